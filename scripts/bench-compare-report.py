#!/usr/bin/env python3
"""Write docs/benchmarks.md from the results directory of scripts/bench-compare.

    scripts/bench-compare-report.py RESULTS_DIR OUTPUT

Everything after the line NOTES_MARKER in an existing OUTPUT is kept, so
notes written by hand (profiles, readings of the figures) survive a re-run.
"""

import json
import pathlib
import sys

NOTES_MARKER = "<!-- Everything below this line is kept when scripts/bench-compare rewrites the page. -->"

TARGETS = ["null", "embedded", "in-memory", "postgres-1", "postgres-2", "fakecloud", "ministack", "moto"]
POSTROOM = ["embedded", "in-memory", "postgres-1", "postgres-2"]
PEERS = ["fakecloud", "ministack", "moto"]
SCENARIOS = ["send", "send-batch", "cycle", "latency", "fifo", "fifo-hot", "fanout", "fanout-events"]
DESCRIPTIONS = {
    "null": "`postroom bench null-server`: a fixed 107-byte JSON response, no queue; the ceiling of the load generator and HTTP/1.1 on this machine",
    "embedded": "Postroom, embedded store on disk: every acknowledged change is on disk (fdatasync, group commit) before the response",
    "in-memory": "Postroom `--in-memory`: the same engine with nothing written to disk",
    "postgres-1": "Postroom `--store postgres`, one node, pool of 16 connections",
    "postgres-2": "two Postroom nodes on one PostgreSQL schema; the load generator alternates its connections between them",
    "fakecloud": "fakecloud from crates.io (Rust), state in memory",
    "ministack": "MiniStack from PyPI (Python, ASGI on Hypercorn), state in memory",
    "moto": "moto's server from PyPI (Python, Flask on Werkzeug), state in memory",
}


def read_key_values(path):
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def load_reports(results):
    """Reads the JSON reports by (target, scenario). Of a scenario run in
    several rounds, keeps the run with the median messages/s and records
    every round's figure in its "rounds" list."""
    runs = {}
    for path in sorted(results.glob("*.json")):
        if path.name.endswith("-startup.json"):
            continue
        report = json.loads(path.read_text())
        report["stem"] = path.name[: -len(".json")]
        runs.setdefault((report["label"], report["scenario"]), []).append(report)
    reports = {}
    for key, found in runs.items():
        found.sort(key=lambda report: report["messages_per_second"])
        median = found[(len(found) - 1) // 2]
        median["rounds"] = [report["messages_per_second"] for report in found]
        reports[key] = median
    return reports


def read_float(path):
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def number(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    if not numerator or not denominator:
        return "–"
    value = numerator / denominator
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def main_latency(report):
    """Return the latency that characterises a scenario: the send request
    for the send scenarios, the end-to-end time for the others."""
    if report["scenario"] in ("send", "backlog"):
        key = "SendMessage" if report["scenario"] == "send" else "SendMessageBatch"
        return report["latency"].get(key)
    if report["scenario"] == "send-batch":
        return report["latency"].get("SendMessageBatch")
    return report.get("end_to_end_latency")


def read_startup(results, target):
    """Return what scripts/bench-startup.py measured for a target, or {}."""
    try:
        return json.loads((results / f"{target}-startup.json").read_text())
    except (OSError, ValueError):
        return {}


def fastest_peer(reports, scenario):
    """Return the peer with the most messages per second in a scenario."""
    measured = [(reports[(peer, scenario)]["messages_per_second"], peer) for peer in PEERS if (peer, scenario) in reports]
    return max(measured)[::-1] if measured else (None, None)


def target_rows(reports, results):
    """Compare the embedded store's figures with the performance targets."""
    rows = []

    def check(figure, target, value, met, formatted):
        if value is None:
            rows.append([figure, target, "not measured", "–"])
        else:
            rows.append([figure, target, formatted, "met" if met else "missed"])

    def messages(target, scenario):
        report = reports.get((target, scenario))
        return report["messages_per_second"] if report else None

    send = reports.get(("embedded", "send"))
    ceiling = reports.get(("null", "send"))
    share = send["requests_per_second"] / ceiling["requests_per_second"] if send and ceiling else None
    check("`send`, share of the null server", "≥ 60%", share, share is not None and share >= 0.6, f"{share:.0%}" if share else "")
    for scenario, floor, multiple in (("send", None, 1.5), ("send-batch", 100_000, 3), ("cycle", 40_000, 20), ("fifo", 20_000, 15)):
        mine = messages("embedded", scenario)
        if floor is not None:
            check(f"`{scenario}` messages/s", f"≥ {floor:,}", mine, mine is not None and mine >= floor, number(mine))
        peer, theirs = fastest_peer(reports, scenario)
        times = mine / theirs if mine and theirs else None
        check(
            f"`{scenario}` / fastest peer" + (f" (`{peer}`)" if peer else ""),
            f"≥ {multiple}×",
            times,
            times is not None and times >= multiple,
            f"{times:.2f}×" if times else "",
        )
    latency = reports.get(("embedded", "latency"))
    p99 = latency["end_to_end_latency"]["p99_ms"] if latency and latency.get("end_to_end_latency") else None
    check("`latency` p99, send answered to message received", "≤ 2 ms", p99, p99 is not None and p99 <= 2, f"{p99:.2f} ms" if p99 is not None else "")
    fill = reports.get(("embedded", "backlog"))
    rss = server_peak_rss(fill) if fill else None
    check(f"`backlog` peak RSS with {number(fill['messages_sent']) if fill else 'N'} messages", "≤ 300 MiB", rss, rss is not None and rss <= 300, f"{rss:,.0f} MiB" if rss else "")
    restart = read_float(results / "embedded-restart.txt")
    check("`backlog` restart to healthy", "≤ 3 s", restart, restart is not None and restart <= 3, f"{restart:.2f} s" if restart is not None else "")
    startup = read_startup(results, "embedded")
    idle = startup.get("idle_rss_mib")
    check("idle RSS", "≤ 20 MiB", idle, idle is not None and idle <= 20, f"{idle:.1f} MiB" if idle is not None else "")
    start = startup.get("start_ms")
    check("process start to healthy", "≤ 20 ms", start, start is not None and start <= 20, f"{start:.1f} ms" if start is not None else "")
    return rows


def server_cores(report):
    if not report.get("servers"):
        return None
    return sum(server["cores_used"] for server in report["servers"])


def server_peak_rss(report):
    if not report.get("servers"):
        return None
    return sum(server["peak_rss_mib"] for server in report["servers"])


def scenario_table(reports, targets, cell):
    """Builds a table with a row per scenario and a column per target, whose
    cells `cell` formats from the report."""
    rows = []
    for scenario in SCENARIOS:
        row = [f"`{scenario}`"]
        for target in targets:
            report = reports.get((target, scenario))
            row.append(cell(report) if report else "–")
        rows.append(row)
    return table(["scenario"] + [f"`{t}`" for t in targets], rows)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def present_targets(reports):
    return [target for target in TARGETS if any(label == target for label, _ in reports)]


def bound_of(report, postgres_cpu, cores):
    """Describe in one line what limited a run, judged from the CPU figures."""
    server = server_cores(report) or 0.0
    generator = (report.get("load_generator") or {}).get("cores_used", 0.0)
    database = 0.0
    if postgres_cpu is not None:
        database = postgres_cpu / (report["measured_seconds"] + report["warmup_seconds"])
    machine = report.get("machine_cores_busy")
    other = max(0.0, machine - server - generator - database) if machine is not None else 0.0
    users = {"the server": server, "the load generator": generator, "other processes": other}
    parts = [f"server {server:.2f}", f"load generator {generator:.2f}"]
    if postgres_cpu is not None:
        users["PostgreSQL"] = database
        parts.append(f"PostgreSQL {database:.2f}")
    parts.append(f"other processes {other:.2f}")
    usage = ", ".join(parts) + f" of {cores} cores"
    busy = machine if machine is not None else server + generator + database
    if busy >= 0.85 * cores:
        largest = max(users, key=users.get)
        verdict = f"CPU-bound; the largest user is {largest}"
    elif report["scenario"] == "latency":
        verdict = "paced by the 5 ms send interval, not by CPU"
    elif report["scenario"] == "fifo-hot":
        verdict = "limited by the single message group: one consumer at a time can hold it"
    else:
        verdict = "not CPU-bound: waits (fdatasync, locks, long polls, round trips) limit it"
    return f"{verdict} ({usage})"


def main():
    results = pathlib.Path(sys.argv[1])
    output = pathlib.Path(sys.argv[2])
    machine = read_key_values(results / "machine.txt")
    reports = load_reports(results)
    targets = present_targets(reports)
    cores = int(machine.get("nproc", "2"))

    kept_notes = ""
    if output.exists():
        text = output.read_text()
        if NOTES_MARKER in text:
            kept_notes = text.split(NOTES_MARKER, 1)[1]

    out = []
    write = out.append
    write("# Benchmarks\n")
    write(
        "Measured by `scripts/bench-compare`, which drives every system below with "
        "`postroom bench` over HTTP/1.1 keep-alive connections on 127.0.0.1, with AWS JSON 1.0 "
        "requests signed with SigV4 as the AWS SDKs sign them. Each scenario runs on a freshly "
        "started server. The load generator runs on the same machine as the server, so both share "
        "its cores. Timed scenarios run in rounds, each target once per round, and each figure comes from "
        "the round with the median messages/s; the throughput section gives the spread of the rounds. Expect "
        "more noise where other work ran on the machine (see the load averages).\n"
    )

    write("## Targets\n")
    write(
        "The embedded store in durable mode against the performance targets, from this run. Peers are the "
        "emulators below; the fastest one in each scenario is the reference.\n"
    )
    write(table(["figure", "target", "measured", "verdict"], target_rows(reports, results)))
    write("")

    write("## Machine\n")
    write(
        table(
            ["", ""],
            [
                ["date", machine.get("date", "–")],
                ["CPU", f"{machine.get('cpu', '–')}, {machine.get('nproc', '–')} cores (`nproc`)"],
                ["memory", machine.get("memory", "–")],
                ["kernel", machine.get("kernel", "–")],
                ["disk of the embedded store", machine.get("filesystem", "–")],
                ["Rust", machine.get("rustc", "–")],
                ["Postroom", f"commit {machine.get('postroom', '–')}, release build"],
                ["PostgreSQL", machine.get("postgres", "not run")],
                ["load average at start (1, 5, 15 min)", machine.get("load_at_start", "–")],
            ],
        )
    )
    write("")
    load_path = results / "load.txt"
    if load_path.exists():
        loads = [line.split(" ", 1) for line in load_path.read_text().splitlines() if " " in line]
        write("Load average (1, 5, 15 min) when each target started:\n")
        write(table(["target", "load average"], [[f"`{t}`", l] for t, l in loads]))
        write("")

    write("## Systems\n")
    versions = {"fakecloud": machine.get("fakecloud"), "ministack": machine.get("ministack"), "moto": machine.get("moto")}
    rows = []
    for target in TARGETS:
        version = versions.get(target) or ""
        startup = read_startup(results, target)
        rows.append(
            [
                f"`{target}`",
                DESCRIPTIONS[target],
                version,
                number(startup.get("start_ms"), 1),
                number(startup.get("idle_rss_mib"), 1),
            ]
        )
    write(table(["target", "what", "version", "start to first response (ms)", "idle RSS (MiB)"], rows))
    write("")
    write(
        f"Every scenario ran {machine.get('warmup', '?')} s of warm-up, then {machine.get('duration', '?')} s measured, "
        f"with {machine.get('concurrency', '?')} connections and 1,024-byte message bodies; only requests that "
        "started and finished inside the measured window count. Scenarios:\n"
    )
    write(
        "- `send`: SendMessage on every connection.\n"
        "- `send-batch`: SendMessageBatch of 10 on every connection.\n"
        "- `cycle`: half the connections send batches of 10, half ReceiveMessage (10, WaitTimeSeconds=20) and "
        "DeleteMessageBatch; messages/s counts messages received, and end-to-end latency runs from building the "
        "batch to the receive's response.\n"
        "- `latency`: one SendMessage every 5 ms and one long-polling consumer; latency runs from the send's response "
        "to the receive's response (0 when the message arrived first).\n"
        "- `fifo`: the cycle on a FIFO queue with 100 message groups; `fifo-hot`: with one group.\n"
        "- `fanout`: half the connections Publish to an SNS topic with 10 raw-delivery subscriptions, one per queue, "
        "half receive and delete from the 10 queues in turn; messages/s counts deliveries received.\n"
        "- `fanout-events`: half the connections PutEvents in batches of 10 on an EventBridge bus whose rule targets "
        "one queue, half receive and delete from it.\n"
        "- `backlog`: fill a queue with N messages in batches of 10, restart durable servers and time the restart, "
        "then drain the queue with receives and batch deletes.\n"
    )

    write("## Throughput\n")
    write(
        "Messages per second (received for cycle, latency, FIFO and fan-out, where each delivery to a queue "
        "counts; sent for the send scenarios).\n"
    )
    write(scenario_table(reports, targets, lambda report: number(report["messages_per_second"])))
    rounds = machine.get("rounds", "1")
    if rounds != "1":
        write(
            f"\nEach figure is the median of {rounds} rounds, in which every target ran every scenario once in "
            "turn. The lowest and highest of the rounds:\n"
        )

        def spread(report):
            low, high = report["rounds"][0], report["rounds"][-1]
            return f"{number(low)} – {number(high)}" if len(report["rounds"]) > 1 else "–"

        write(scenario_table(reports, targets, spread))
    write("\nRequests per second.\n")
    write(scenario_table(reports, targets, lambda report: number(report["requests_per_second"])))
    write("")

    write("## Latency\n")
    write(
        "Milliseconds, p50 / p99: the send request for `send` and `send-batch`, the end-to-end time for the others. "
        "In `cycle`, the FIFO and the fan-out scenarios producers run open loop, so where they outpace the consumers "
        "a backlog grows and end-to-end latency measures its age rather than the server's delivery time.\n"
    )
    rows = []
    for scenario in SCENARIOS:
        row = [f"`{scenario}`"]
        for target in targets:
            report = reports.get((target, scenario))
            summary = main_latency(report) if report else None
            row.append(f"{summary['p50_ms']:.2f} / {summary['p99_ms']:.2f}" if summary else "–")
        rows.append(row)
    write(table(["scenario"] + [f"`{t}`" for t in targets], rows))
    write("")

    write("## Server resources\n")
    write(
        "Server CPU in cores (CPU seconds over the measured seconds, so 1.0 is one core busy) and peak resident "
        "memory in MiB, read from /proc for the server process. For `postgres-2` the two nodes are added up. "
        "PostgreSQL's own CPU is not included here and appears under what bounds each figure.\n"
    )
    rows = []
    for scenario in SCENARIOS + ["backlog"]:
        row = [f"`{scenario}`"]
        for target in targets:
            report = reports.get((target, scenario))
            if report and report.get("servers"):
                row.append(f"{server_cores(report):.2f} / {server_peak_rss(report):,.0f}")
            else:
                row.append("–")
        rows.append(row)
    write(table(["scenario"] + [f"`{t}`" for t in targets], rows))
    write("")

    write("## Backlog\n")
    rows = []
    for target in targets:
        fill = reports.get((target, "backlog"))
        drain = reports.get((target, "drain"))
        if not fill:
            continue
        restart = read_float(results / f"{target}-restart.txt")
        rows.append(
            [
                f"`{target}`",
                number(fill["messages_sent"]),
                number(fill["messages_per_second"]),
                f"{fill['measured_seconds']:.1f}",
                number(restart, 2) if restart is not None else "not restarted (state in memory)",
                number(drain["messages_per_second"]) if drain else "–",
                number(drain["messages_received"]) if drain else "–",
                f"{server_peak_rss(fill):,.0f}" if fill.get("servers") else "–",
            ]
        )
    write(
        table(
            ["target", "messages", "fill msg/s", "fill s", "restart to healthy (s)", "drain msg/s", "drained", "peak RSS after fill (MiB)"],
            rows,
        )
    )
    write(
        f"\nN was {number(float(machine.get('backlog_embedded', 0)))} for the embedded and in-memory stores, "
        f"{number(float(machine.get('backlog_postgres', 0)))} on PostgreSQL, "
        f"{number(float(machine.get('backlog_peers', 0)))} for fakecloud and MiniStack and "
        f"{number(float(machine.get('backlog_moto', 0)))} for moto: these fill slowly enough that a million "
        "messages would not fit the run's time budget. A server that keeps its state in memory loses the backlog on "
        "a restart, so it is drained without one.\n"
    )

    write("## Ratios\n")
    write("Postroom's messages per second divided by each peer's, per scenario (above 1 means Postroom is faster).\n")
    rows = []
    for scenario in SCENARIOS:
        for postroom in POSTROOM:
            mine = reports.get((postroom, scenario))
            if not mine:
                continue
            row = [f"`{scenario}`", f"`{postroom}`"]
            for peer in PEERS:
                theirs = reports.get((peer, scenario))
                row.append(ratio(mine["messages_per_second"], theirs["messages_per_second"] if theirs else None))
            rows.append(row)
    write(table(["scenario", "Postroom"] + [f"/ `{peer}`" for peer in PEERS], rows))
    write("\nPostroom's requests per second as a share of the null server's, the ceiling of this load generator on this machine.\n")
    rows = []
    for scenario in ("send", "send-batch"):
        ceiling = reports.get(("null", scenario))
        for postroom in POSTROOM:
            mine = reports.get((postroom, scenario))
            if mine and ceiling:
                share = mine["requests_per_second"] / ceiling["requests_per_second"]
                rows.append([f"`{scenario}`", f"`{postroom}`", number(mine["requests_per_second"]), number(ceiling["requests_per_second"]), f"{share:.1%}"])
    write(table(["scenario", "Postroom", "requests/s", "null server requests/s", "share"], rows))
    write("")

    write("## What bounds each figure\n")
    write(
        "Read from the CPU used during the measured window, in cores. The server and the load generator come from "
        "/proc/PID/stat, and PostgreSQL from its processes over the whole run, warm-up included. Other processes are "
        "the rest of the machine's busy time in /proc/stat: builds or anything else that ran meanwhile, except niced "
        "processes, which only take CPU that nothing else wants. When "
        "the machine was at least 85 % busy, the run is called CPU-bound and its largest user named; otherwise the "
        "requests spent their time waiting. This is an inference from CPU figures; the notes at the end record "
        "profiles where one was taken.\n"
    )
    rows = []
    for target in targets:
        for scenario in SCENARIOS + ["backlog", "drain"]:
            report = reports.get((target, scenario))
            if not report:
                continue
            postgres_cpu = read_float(results / f"{report['stem']}.postgres-cpu")
            rows.append([f"`{target}`", f"`{scenario}`", bound_of(report, postgres_cpu, cores)])
    write(table(["target", "scenario", "reading"], rows))
    write("")

    write("## Errors and failures\n")
    error_rows = []
    for (target, scenario), report in sorted(reports.items()):
        for code, count in report.get("errors", {}).items():
            error_rows.append([f"`{target}`", f"`{scenario}`", code, number(count)])
    if error_rows:
        write(table(["target", "scenario", "error", "count"], error_rows))
        write("")
    else:
        write("No request failed in any measured window.\n")
    failures_path = results / "failures.tsv"
    if failures_path.exists() and failures_path.read_text().strip():
        write("Runs that could not be measured:\n")
        for line in failures_path.read_text().splitlines():
            name, _, reason = line.partition("\t")
            write(f"- `{name}`: {reason.strip()}")
        write("")
    else:
        write("Every target installed, started and completed every scenario.\n")

    write("## Commands\n")
    write(
        "`scripts/bench-compare` ran these, in this order (ports are the free ports it picked; `$WORK` is its "
        "scratch directory under /tmp and `$PEERS` is /tmp/postroom-peers).\n"
    )
    commands = (results / "commands.txt").read_text() if (results / "commands.txt").exists() else ""
    work_dir = str(results.parent)
    commands = commands.replace(work_dir, "$WORK").replace("/tmp/postroom-peers", "$PEERS")
    repo_root = str(pathlib.Path(__file__).resolve().parent.parent)
    commands = commands.replace(repo_root + "/", "")
    write("<details><summary>all commands</summary>\n\n```sh\n" + commands.strip() + "\n```\n\n</details>\n")

    write(NOTES_MARKER + kept_notes.rstrip("\n") + "\n" if kept_notes.strip() else NOTES_MARKER + "\n")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(out))


if __name__ == "__main__":
    main()
