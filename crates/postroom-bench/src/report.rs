//! The report of a run: a table for people and JSON for scripts.

use crate::histogram::LatencySummary;
use crate::options::LoadOptions;
use crate::process::ProcessSample;
use crate::runner::Stats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub label: String,
    pub endpoints: Vec<String>,
    pub connections: usize,
    /// Bytes per message body.
    pub body_size: usize,
    /// Messages per SendMessageBatch.
    pub batch_size: usize,
    pub warmup_seconds: f64,
    /// Length of the measurement window, or of the whole run for backlog
    /// and drain.
    pub measured_seconds: f64,
    /// Requests that started and finished inside the window.
    pub requests: u64,
    pub requests_per_second: f64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Messages received per second in the scenarios that receive (cycle,
    /// latency, fifo, fifo-hot, drain), messages sent per second otherwise.
    pub messages_per_second: f64,
    /// Request latency by operation.
    pub latency: BTreeMap<String, LatencySummary>,
    /// Send-to-receive latency of messages, where the scenario measures it.
    pub end_to_end_latency: Option<LatencySummary>,
    /// Time from the start of the send request to the message's arrival
    /// (latency scenario).
    pub from_send_start_latency: Option<LatencySummary>,
    /// Error counts by code.
    pub errors: BTreeMap<String, u64>,
    /// Server processes from `--server-pid`.
    pub servers: Vec<ProcessUsage>,
    /// The load generator's own process.
    pub load_generator: Option<ProcessUsage>,
    /// CPU that the machine's processes at normal priority used during the
    /// measurement, in cores, from /proc/stat: server, load generator and
    /// anything else, but not niced processes.
    pub machine_cores_busy: Option<f64>,
    pub queue_name: Option<String>,
    pub notes: Vec<String>,
    /// Server processes from `--server-pid` that exited during the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exited_servers: Vec<u32>,
}

/// CPU and memory of one process during the measurement.
#[derive(Debug, Serialize)]
pub struct ProcessUsage {
    pub pid: u32,
    pub cpu_seconds: f64,
    /// CPU time over the sampled time: 1.0 is one core busy throughout.
    pub cores_used: f64,
    /// Peak resident memory since the process started (VmHWM), in MiB.
    pub peak_rss_mib: f64,
    /// Resident memory at the end of the measurement, in MiB.
    pub rss_mib: f64,
}

impl Report {
    pub fn new(
        scenario: &str,
        options: &LoadOptions,
        measured: Duration,
        stats: &Stats,
        counts_received: bool,
    ) -> Self {
        let seconds = measured.as_secs_f64().max(1e-9);
        let messages = if counts_received { stats.messages_received } else { stats.messages_sent };
        let end_to_end = (stats.end_to_end.count() > 0).then(|| stats.end_to_end.summary());
        let from_send_start = (stats.from_send_start.count() > 0).then(|| stats.from_send_start.summary());
        Self {
            scenario: scenario.to_string(),
            label: options.label.clone(),
            endpoints: options.endpoints.clone(),
            connections: options.concurrency,
            body_size: options.body_size,
            batch_size: options.batch_size,
            warmup_seconds: options.warmup,
            measured_seconds: seconds,
            requests: stats.requests,
            requests_per_second: stats.requests as f64 / seconds,
            messages_sent: stats.messages_sent,
            messages_received: stats.messages_received,
            messages_per_second: messages as f64 / seconds,
            latency: stats
                .latency
                .iter()
                .map(|(operation, histogram)| (operation.to_string(), histogram.summary()))
                .collect(),
            end_to_end_latency: end_to_end,
            from_send_start_latency: from_send_start,
            errors: stats.errors.clone(),
            servers: Vec::new(),
            load_generator: None,
            machine_cores_busy: None,
            queue_name: None,
            notes: Vec::new(),
            exited_servers: Vec::new(),
        }
    }

    /// Fills in the server and load generator usage from samples taken
    /// `interval` apart. The load generator is the current process.
    pub fn set_processes(&mut self, before: &[ProcessSample], after: &[ProcessSample], interval: Duration) {
        let seconds = interval.as_secs_f64().max(1e-9);
        let own = std::process::id();
        for end in after {
            let Some(start) = before.iter().find(|sample| sample.pid == end.pid) else {
                continue;
            };
            let cpu_seconds = (end.cpu_seconds - start.cpu_seconds).max(0.0);
            let usage = ProcessUsage {
                pid: end.pid,
                cpu_seconds,
                cores_used: cpu_seconds / seconds,
                peak_rss_mib: end.peak_rss_kib as f64 / 1024.0,
                rss_mib: end.rss_kib as f64 / 1024.0,
            };
            if end.pid == own {
                self.load_generator = Some(usage);
            } else {
                self.servers.push(usage);
            }
        }
    }

    /// Writes the report as a table.
    /// Describes the connections, bodies and window of the run, with only
    /// what the scenario uses.
    fn setup(&self) -> String {
        let mut parts = Vec::new();
        match self.scenario.as_str() {
            "latency" => parts.push("1 producer and 1 consumer".to_string()),
            _ => parts.push(format!("{} connections", self.connections)),
        }
        parts.push(format!("{} B bodies", self.body_size));
        if matches!(self.scenario.as_str(), "send-batch" | "cycle" | "fifo" | "fifo-hot" | "fanout-events" | "backlog")
        {
            parts.push(format!("batches of {}", self.batch_size));
        }
        match self.scenario.as_str() {
            "backlog" | "drain" => parts.push(format!("{:.1} s until done", self.measured_seconds)),
            _ => parts
                .push(format!("{:.1} s measured after {:.1} s warm-up", self.measured_seconds, self.warmup_seconds)),
        }
        parts.join(", ")
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let title =
            if self.label.is_empty() { self.scenario.clone() } else { format!("{} on {}", self.scenario, self.label) };
        let _ = writeln!(out, "{title}");
        let _ = writeln!(out, "  endpoints      {}", self.endpoints.join(", "));
        let _ = writeln!(out, "  setup          {}", self.setup());
        let _ = writeln!(out, "  requests       {} ({:.0}/s)", self.requests, self.requests_per_second);
        let _ = writeln!(
            out,
            "  messages       {:.0}/s (sent {}, received {})",
            self.messages_per_second, self.messages_sent, self.messages_received
        );

        let _ =
            writeln!(out, "  latency (ms)   {:<22}{:>9}{:>9}{:>9}{:>9}{:>10}", "", "p50", "p90", "p99", "max", "count");
        for (operation, summary) in &self.latency {
            let _ = writeln!(out, "{}", latency_row(operation, summary));
        }
        if let Some(summary) = &self.end_to_end_latency {
            let _ = writeln!(out, "{}", latency_row("end to end", summary));
        }
        if let Some(summary) = &self.from_send_start_latency {
            let _ = writeln!(out, "{}", latency_row("from send start", summary));
        }

        if self.errors.is_empty() {
            let _ = writeln!(out, "  errors         none");
        } else {
            for (code, count) in &self.errors {
                let _ = writeln!(out, "  errors         {count} × {code}");
            }
        }
        for server in &self.servers {
            let _ = writeln!(out, "  server         {}", usage_line(server));
        }
        if let Some(load_generator) = &self.load_generator {
            let _ = writeln!(out, "  load generator {}", usage_line(load_generator));
        }
        if let Some(cores) = self.machine_cores_busy {
            let _ = writeln!(out, "  machine        {cores:.2} cores busy, all processes but niced ones");
        }
        for note in &self.notes {
            let _ = writeln!(out, "  note           {note}");
        }
        out
    }

    pub fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").map_err(|error| anyhow::anyhow!("writing {}: {error}", path.display()))
    }
}

fn latency_row(name: &str, summary: &LatencySummary) -> String {
    format!(
        "                 {name:<22}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>10}",
        summary.p50_ms, summary.p90_ms, summary.p99_ms, summary.max_ms, summary.count
    )
}

fn usage_line(usage: &ProcessUsage) -> String {
    format!(
        "pid {}: {:.2} CPU s ({:.2} cores), peak RSS {:.1} MiB, RSS {:.1} MiB",
        usage.pid, usage.cpu_seconds, usage.cores_used, usage.peak_rss_mib, usage.rss_mib
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        options: LoadOptions,
    }

    fn report(scenario: &str) -> Report {
        use clap::Parser as _;
        let options = Command::parse_from(["load", "--endpoint", "http://127.0.0.1:9"]).options;
        let mut report = Report::new(scenario, &options, Duration::from_secs(2), &Stats::default(), false);
        report.connections = 8;
        report
    }

    #[test]
    fn setup_names_only_what_the_scenario_uses() {
        let cases = [
            ("send", "8 connections, 1024 B bodies, 2.0 s measured after 2.0 s warm-up"),
            ("send-batch", "8 connections, 1024 B bodies, batches of 10, 2.0 s measured after 2.0 s warm-up"),
            ("latency", "1 producer and 1 consumer, 1024 B bodies, 2.0 s measured after 2.0 s warm-up"),
            ("backlog", "8 connections, 1024 B bodies, batches of 10, 2.0 s until done"),
            ("drain", "8 connections, 1024 B bodies, 2.0 s until done"),
        ];
        for (scenario, expected) in cases {
            assert_eq!(report(scenario).setup(), expected, "{scenario}");
        }
    }
}
