//! `postroom bench` against a real server and against the null server:
//! one-second runs whose report counts must agree with each other.

mod common;

use common::{Options, Server};
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// Runs `postroom bench <scenario>` for one second against `endpoint` and
/// returns the JSON report.
fn bench(scenario: &str, endpoint: &str, server_pid: u32) -> Value {
    bench_with(scenario, endpoint, server_pid, &[])
}

/// Runs `bench` with extra options.
fn bench_with(scenario: &str, endpoint: &str, server_pid: u32, extra: &[&str]) -> Value {
    let directory = tempfile::tempdir().expect("temporary directory");
    let json = directory.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_postroom"))
        .args(["bench", scenario, "--endpoint", endpoint, "--duration", "1", "--warmup", "0.2"])
        .args(["--concurrency", "4", "--quiet", "--server-pid", &server_pid.to_string(), "--json"])
        .arg(&json)
        .args(extra)
        .output()
        .expect("run postroom bench");
    assert!(
        output.status.success(),
        "postroom bench {scenario} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("read the JSON report");
    serde_json::from_str(&text).expect("the JSON report parses")
}

fn count(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} is missing from {report}"))
}

/// Checks what every send report must satisfy, with `per_request`
/// messages in each request.
fn check_send_report(report: &Value, operation: &str, per_request: u64, server_pid: u32) {
    let requests = count(report, "requests");
    assert!(requests > 10, "only {requests} requests in one second");
    assert_eq!(count(report, "messages_sent"), requests * per_request);
    assert_eq!(count(report, "messages_received"), 0);
    assert_eq!(report["errors"], serde_json::json!({}), "errors: {}", report["errors"]);
    assert_eq!(report["latency"][operation]["count"].as_u64(), Some(requests));

    let seconds = report["measured_seconds"].as_f64().expect("measured_seconds");
    assert!((seconds - 1.0).abs() < 1e-6, "measured {seconds} s");
    let rate = report["requests_per_second"].as_f64().expect("requests_per_second");
    assert!((rate - requests as f64 / seconds).abs() < 1e-6, "rate {rate} for {requests} requests");

    let p50 = report["latency"][operation]["p50_ms"].as_f64().expect("p50_ms");
    let p99 = report["latency"][operation]["p99_ms"].as_f64().expect("p99_ms");
    let max = report["latency"][operation]["max_ms"].as_f64().expect("max_ms");
    assert!(p50 > 0.0, "p50 {p50}");
    assert!(p50 <= p99, "p50 {p50}, p99 {p99}");
    assert!(p99 <= max, "p99 {p99}, max {max}");

    assert_eq!(report["servers"][0]["pid"].as_u64(), Some(u64::from(server_pid)));
    assert!(report["servers"][0]["peak_rss_mib"].as_f64() > Some(0.0), "servers: {}", report["servers"]);
    assert!(report["load_generator"]["cpu_seconds"].as_f64() > Some(0.0), "{}", report["load_generator"]);
}

#[test]
fn send_against_postroom() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let pid = server.pid();

    let report = bench("send", &server.endpoint(), pid);
    check_send_report(&report, "SendMessage", 1, pid);

    let report = bench("send-batch", &server.endpoint(), pid);
    check_send_report(&report, "SendMessageBatch", 10, pid);
}

#[tokio::test]
async fn send_deletes_its_queue() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let report = bench("send", &server.endpoint(), server.pid());
    let name = report["queue_name"].as_str().expect("queue_name").to_string();
    assert!(name.starts_with("bench-send-"), "queue name {name}");

    let queues = server.client().list_queues().send().await.expect("ListQueues");
    assert!(queues.queue_urls().is_empty(), "queues left behind: {:?}", queues.queue_urls());
}

#[test]
fn cycle_bounds_its_backlog() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let report = bench_with("cycle", &server.endpoint(), server.pid(), &["--max-backlog", "50"]);
    assert_eq!(report["errors"], serde_json::json!({}), "errors: {}", report["errors"]);
    let sent = count(&report, "messages_sent");
    let received = count(&report, "messages_received");
    assert!(received > 0, "nothing received: {report}");
    // The backlog grows by sent - received over the window, and it never
    // passes the bound plus one batch from each of the two producers.
    assert!(sent <= received + 50 + 2 * 10, "sent {sent}, received {received}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("producers pause while 50 messages are sent but not received"), "notes: {notes}");
}

/// A `postroom bench null-server` process, stopped on drop.
struct NullServer {
    child: Child,
    address: String,
}

impl NullServer {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_postroom"))
            .args(["bench", "null-server", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the null server");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the address line");
        let address = line.trim().strip_prefix("listening on ").expect("a `listening on ADDR` line").to_string();
        Self { child, address }
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn send_against_null_server() {
    let null_server = NullServer::start();
    let endpoint = format!("http://{}", null_server.address);
    let pid = null_server.child.id();

    let report = bench("send", &endpoint, pid);
    check_send_report(&report, "SendMessage", 1, pid);

    let report = bench("send-batch", &endpoint, pid);
    check_send_report(&report, "SendMessageBatch", 10, pid);
}

/// Runs `postroom bench` with `args` and returns its exit code and error
/// output.
fn bench_failure(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_postroom")).arg("bench").args(args).output().expect("run bench");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn invalid_options_fail_before_any_request() {
    // No server listens here: every case must fail on its options alone.
    let endpoint = "http://127.0.0.1:9";
    let exited_pid = {
        let mut child = Command::new("true").spawn().expect("spawn true");
        child.wait().expect("wait for true");
        child.id().to_string()
    };
    let cases: &[(&[&str], &str)] = &[
        (&["send", "--endpoint", endpoint, "--duration", "1e20"], "--duration must be"),
        (&["send", "--endpoint", endpoint, "--warmup", "1e30"], "--warmup must be"),
        (&["send", "--endpoint", endpoint, "--request-timeout", "1e30"], "--request-timeout must be"),
        (&["latency", "--endpoint", endpoint, "--interval-ms", "99999999999"], "--interval-ms"),
        (&["send", "--endpoint", "http://127.0.0.1:99999"], "is not a number from 1 to 65535"),
        (&["send", "--endpoint", "http://127.0.0.1:x"], "is not a number from 1 to 65535"),
        (&["send", "--endpoint", endpoint, "--server-pid", &exited_pid], "no such process"),
        (&["fanout", "--endpoint", endpoint, "--queues", "0"], "--queues 0 is invalid"),
        (&["fanout", "--endpoint", endpoint, "--queues", "101"], "--queues 101 is invalid"),
        (&["fanout-events", "--endpoint", endpoint, "--concurrency", "1"], "needs --concurrency of at least 2"),
    ];
    for (args, expected) in cases {
        let (code, stderr) = bench_failure(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn send_skips_the_long_poll_timeout_check() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let report = bench_with("send", &server.endpoint(), server.pid(), &["--request-timeout", "2"]);
    check_send_report(&report, "SendMessage", 1, server.pid());
}

#[test]
fn all_failed_run_exits_nonzero() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let endpoint = server.endpoint();
    // Bodies above 1 MiB are over the largest message size, so no send
    // succeeds.
    let args = ["send", "--endpoint", &endpoint, "--body-size", "1048577", "--concurrency", "2", "--duration", "1"];
    let (code, stderr) = bench_failure(&args);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("every request failed"), "{stderr}");
}

#[test]
fn backlog_sends_exactly_the_messages_asked_for() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let endpoint = server.endpoint();
    let pid = server.pid();
    let fill = ["--messages", "7", "--batch-size", "3", "--queue-name", "exact-backlog"];
    let report = bench_with("backlog", &endpoint, pid, &fill);
    assert_eq!(count(&report, "messages_sent"), 7);

    let report = bench_with("drain", &endpoint, pid, &["--queue-name", "exact-backlog"]);
    assert_eq!(count(&report, "messages_received"), 7);
    // The four connections that find the queue empty stop when the last
    // message is deleted, instead of waiting out their one-second long
    // polls inside the figures.
    let slowest = report["latency"]["ReceiveMessage"]["max_ms"].as_f64().expect("max_ms");
    assert!(slowest < 900.0, "a receive waited {slowest} ms");
    let seconds = report["measured_seconds"].as_f64().expect("measured_seconds");
    let rate = report["requests_per_second"].as_f64().expect("requests_per_second");
    assert!((rate * seconds - count(&report, "requests") as f64).abs() < 1e-6, "rate {rate} over {seconds} s");
}

#[tokio::test]
async fn interrupted_run_deletes_its_queue() {
    let server = Server::start(Options { in_memory: false, manual_clock: false });
    let endpoint = server.endpoint();
    let child = Command::new(env!("CARGO_BIN_EXE_postroom"))
        .args(["bench", "send", "--endpoint", &endpoint, "--duration", "60", "--quiet"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postroom bench");

    // Interrupt once the queue exists and messages are arriving.
    wait_for_a_queue(&server).await;
    let client = server.client();
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("send SIGINT");
    assert!(status.success());
    let output = child.wait_with_output().expect("wait for bench");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted before the end of the run"), "{stderr}");
    let queues = client.list_queues().send().await.expect("ListQueues");
    assert!(queues.queue_urls().is_empty(), "queues left behind: {:?}", queues.queue_urls());
}

#[test]
fn latency_stops_at_the_end_of_its_window() {
    let server = Server::start(Options { in_memory: true, manual_clock: false });
    let endpoint = server.endpoint();
    let started = std::time::Instant::now();
    // One send at the start, and the next only after 30 s: the producer
    // is waiting for that tick when the one-second window ends.
    let output = Command::new(env!("CARGO_BIN_EXE_postroom"))
        .args(["bench", "latency", "--endpoint", &endpoint, "--duration", "1", "--warmup", "0"])
        .args(["--interval-ms", "30000", "--quiet"])
        .output()
        .expect("run postroom bench");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "the run outlasted its window");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("sent 1,"), "{stdout}");
}

/// Waits until `server` has a queue, which bench creates before its run.
async fn wait_for_a_queue(server: &Server) {
    let client = server.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let queues = client.list_queues().send().await.expect("ListQueues");
        if !queues.queue_urls().is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "bench never created its queue");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn server_exit_during_run_fails_it() {
    let mut server = Server::start(Options { in_memory: true, manual_clock: false });
    let endpoint = server.endpoint();
    let pid = server.pid().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_postroom"))
        .args(["bench", "send", "--endpoint", &endpoint, "--duration", "3", "--warmup", "0", "--quiet"])
        .args(["--server-pid", &pid])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postroom bench");

    wait_for_a_queue(&server).await;
    server.kill();
    let output = child.wait_with_output().expect("wait for bench");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("the server process {pid} exited during the run")), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("server process {pid} exited during the run")), "{stdout}");
}

/// Posts a request signed for `service` (only the credential scope, which
/// Postroom routes by) and returns the response body.
async fn post(server: &Server, service: &str, headers: &[(&str, &str)], body: String) -> String {
    let mut request = reqwest::Client::new().post(server.endpoint()).header(
        "authorization",
        format!("AWS4-HMAC-SHA256 Credential=test/20261205/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"),
    );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.expect("request");
    assert!(response.status().is_success(), "{service} request failed: {}", response.status());
    response.text().await.expect("response body")
}

/// Checks what the reports of both fan-out scenarios satisfy. Producers
/// pause at a backlog of 300 deliveries, so the deliveries made in the
/// window exceed those received by at most that bound plus what the two
/// producers send while they check it.
fn check_fanout_report(report: &Value, producer_operation: &str, fan_out: u64, per_request: u64) {
    assert_eq!(report["errors"], serde_json::json!({}), "errors: {}", report["errors"]);
    let sent = count(report, "messages_sent");
    let received = count(report, "messages_received");
    assert!(received > 0, "nothing received: {report}");
    assert!(sent * fan_out <= received + 300 + 2 * per_request * fan_out, "sent {sent}, received {received}");
    for operation in [producer_operation, "ReceiveMessage", "DeleteMessageBatch"] {
        assert!(report["latency"][operation]["count"].as_u64() > Some(0), "no {operation} in {report}");
    }
    // Every delivery carries the send time, in the raw body or in the
    // event's detail.
    assert_eq!(report["end_to_end_latency"]["count"].as_u64(), Some(received), "{report}");
}

#[tokio::test]
async fn fanout_cleans_up() {
    let server = Server::start(Options { in_memory: false, manual_clock: false });
    let report = bench_with("fanout", &server.endpoint(), server.pid(), &["--queues", "3", "--max-backlog", "300"]);
    check_fanout_report(&report, "Publish", 3, 1);
    let notes = report["notes"].to_string();
    assert!(notes.contains("each Publish goes to 3 queues with raw delivery"), "notes: {notes}");

    let queues = server.client().list_queues().send().await.expect("ListQueues");
    assert!(queues.queue_urls().is_empty(), "queues left behind: {:?}", queues.queue_urls());
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "ListTopics")
        .append_pair("Version", "2010-03-31")
        .finish();
    let topics = post(&server, "sns", &[("content-type", "application/x-www-form-urlencoded")], body).await;
    assert!(topics.contains("<Topics"), "{topics}");
    assert!(!topics.contains("bench-fanout"), "topic left behind: {topics}");
}

#[tokio::test]
async fn fanout_events_cleans_up() {
    let server = Server::start(Options { in_memory: false, manual_clock: false });
    let report = bench_with("fanout-events", &server.endpoint(), server.pid(), &["--max-backlog", "300"]);
    check_fanout_report(&report, "PutEvents", 1, 10);

    let queues = server.client().list_queues().send().await.expect("ListQueues");
    assert!(queues.queue_urls().is_empty(), "queues left behind: {:?}", queues.queue_urls());
    let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "AWSEvents.ListEventBuses")];
    let buses = post(&server, "events", &headers, "{}".to_string()).await;
    let buses: Value = serde_json::from_str(&buses).expect("ListEventBuses output");
    let names: Vec<&str> =
        buses["EventBuses"].as_array().expect("EventBuses").iter().filter_map(|bus| bus["Name"].as_str()).collect();
    assert_eq!(names, ["default"], "buses left behind");
}
