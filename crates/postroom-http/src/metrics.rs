//! Prometheus metrics at `/_postroom/metrics`: requests by operation and
//! status, request latency, queue depths, and dead-letter moves.

use parking_lot::Mutex;
use postroom_queue::QueueEngine;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds. Long polls take up to
/// 20 seconds, so the buckets reach past that.
const BUCKETS: [f64; 15] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms of the requests served.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
}

impl Metrics {
    pub fn record(&self, service: &'static str, operation: &'static str, status: u16, elapsed: Duration) {
        *self.requests.lock().entry((service, operation, status)).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock();
        let histogram = latency.entry((service, operation)).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub async fn render(&self, engine: &QueueEngine) -> String {
        let mut out = String::new();
        self.render_requests(&mut out);
        render_queues(&mut out, engine).await;
        out.push_str("# HELP postroom_deliveries_total Deliveries of topics and rules by outcome: delivered, retried, dead_lettered, dropped.\n");
        out.push_str("# TYPE postroom_deliveries_total counter\n");
        for ((service, outcome), count) in engine.delivery_counts() {
            let _ = writeln!(out, "postroom_deliveries_total{{service=\"{service}\",outcome=\"{outcome}\"}} {count}");
        }
        out
    }

    fn render_requests(&self, out: &mut String) {
        out.push_str("# HELP postroom_requests_total Requests by service, operation and HTTP status.\n");
        out.push_str("# TYPE postroom_requests_total counter\n");
        for ((service, operation, status), count) in self.requests.lock().iter() {
            let _ = writeln!(out, "postroom_requests_total{{service=\"{service}\",operation=\"{operation}\",status=\"{status}\"}} {count}");
        }
        out.push_str("# HELP postroom_request_duration_seconds Time from a request's arrival to its response.\n");
        out.push_str("# TYPE postroom_request_duration_seconds histogram\n");
        for ((service, operation), histogram) in self.latency.lock().iter() {
            let labels = format!("service=\"{service}\",operation=\"{operation}\"");
            for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
                let _ = writeln!(out, "postroom_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "postroom_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "postroom_request_duration_seconds_sum{{{labels}}} {}", histogram.sum);
            let _ = writeln!(out, "postroom_request_duration_seconds_count{{{labels}}} {}", histogram.count);
        }
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

async fn render_queues(out: &mut String, engine: &QueueEngine) {
    let queues = match engine.store().all_queues().await {
        Ok(queues) => queues,
        Err(error) => {
            tracing::warn!(%error, "listing queues for the metrics failed");
            return;
        }
    };
    let dead_letter_arns: std::collections::HashSet<String> = queues
        .iter()
        .filter_map(|queue| queue.attributes.get("RedrivePolicy"))
        .filter_map(|policy| postroom_queue::config::RedrivePolicy::parse(policy))
        .map(|policy| policy.dead_letter_target_arn)
        .collect();

    out.push_str("# HELP postroom_queue_messages Messages in a queue by state: visible, in_flight or delayed.\n");
    out.push_str("# TYPE postroom_queue_messages gauge\n");
    let mut dead_letter_depths = Vec::new();
    for queue in &queues {
        let Ok(counts) = engine.counts(queue).await else { continue };
        let labels = format!(
            "account=\"{}\",region=\"{}\",queue=\"{}\"",
            label(&queue.key.account),
            label(&queue.key.region),
            label(&queue.key.name)
        );
        for (state, value) in [("visible", counts.visible), ("in_flight", counts.in_flight), ("delayed", counts.delayed)] {
            let _ = writeln!(out, "postroom_queue_messages{{{labels},state=\"{state}\"}} {value}");
        }
        if dead_letter_arns.contains(&postroom_queue::arn::queue_arn(&queue.key)) {
            dead_letter_depths.push((labels, counts.visible + counts.in_flight + counts.delayed));
        }
    }
    out.push_str("# HELP postroom_dead_letter_queue_messages Messages in each queue that is the dead-letter queue of another.\n");
    out.push_str("# TYPE postroom_dead_letter_queue_messages gauge\n");
    for (labels, depth) in dead_letter_depths {
        let _ = writeln!(out, "postroom_dead_letter_queue_messages{{{labels}}} {depth}");
    }
    out.push_str("# HELP postroom_dead_letter_moves_total Messages moved to a dead-letter queue on receive, by source queue, on this node.\n");
    out.push_str("# TYPE postroom_dead_letter_moves_total counter\n");
    for (key, moves) in engine.dead_letter_moves() {
        let _ = writeln!(
            out,
            "postroom_dead_letter_moves_total{{account=\"{}\",region=\"{}\",queue=\"{}\"}} {moves}",
            label(&key.account),
            label(&key.region),
            label(&key.name)
        );
    }
}
