//! `send` and `send-batch`: every connection sends as fast as its
//! responses come back.

use crate::runner::{Run, Stats};
use crate::sqs::{self, BatchOutput, SendEntry, SendMessage, SendMessageBatch};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Runs one SendMessage loop per connection until the measurement ends.
pub async fn send(run: Arc<Run>, queue_url: Arc<str>) -> Stats {
    let tasks = (0..run.options.concurrency).map(|index| {
        let run = run.clone();
        let queue_url = queue_url.clone();
        tokio::spawn(async move { send_loop(&run, &queue_url, index).await })
    });
    super::join_all(tasks.collect()).await
}

/// Runs one SendMessageBatch loop per connection until the measurement
/// ends.
pub async fn send_batch(run: Arc<Run>, queue_url: Arc<str>) -> Stats {
    let tasks = (0..run.options.concurrency).map(|index| {
        let run = run.clone();
        let queue_url = queue_url.clone();
        tokio::spawn(async move {
            let mut client = run.client(index);
            let mut stats = Stats::default();
            while !run.finished() {
                send_one_batch(&run, &mut client, &mut stats, &queue_url, None).await;
            }
            stats
        })
    });
    super::join_all(tasks.collect()).await
}

async fn send_loop(run: &Run, queue_url: &str, index: usize) -> Stats {
    let mut client = run.client(index);
    let mut stats = Stats::default();
    while !run.finished() {
        let sequence = run.next_sequences(1);
        let body = sqs::message_body(sequence, run.micros_since_base(Instant::now()), run.options.body_size);
        let request = SendMessage { queue_url, message_body: &body };
        let timed = run.call(&mut client, &mut stats, "SendMessage", request.to_body()).await;
        if timed.result.is_ok() {
            run.counters.sent.fetch_add(1, Ordering::Relaxed);
            if timed.counted {
                stats.messages_sent += 1;
            }
        }
    }
    stats
}

/// Sends one batch of `--batch-size` bodies; with `groups`, the entries
/// get FIFO group and deduplication ids. Returns the messages sent.
pub async fn send_one_batch(
    run: &Run,
    client: &mut crate::client::Client,
    stats: &mut Stats,
    queue_url: &str,
    groups: Option<u32>,
) -> u64 {
    send_batch_of(run, client, stats, queue_url, groups, run.options.batch_size as u64).await
}

/// Sends one batch of `size` bodies, as [`send_one_batch`] does.
pub async fn send_batch_of(
    run: &Run,
    client: &mut crate::client::Client,
    stats: &mut Stats,
    queue_url: &str,
    groups: Option<u32>,
    size: u64,
) -> u64 {
    let first = run.next_sequences(size);
    let sent_micros = run.micros_since_base(Instant::now());
    let entries = (0..size)
        .map(|offset| {
            let sequence = first + offset;
            SendEntry {
                id: offset.to_string(),
                message_body: sqs::message_body(sequence, sent_micros, run.options.body_size),
                message_group_id: groups.map(|groups| format!("group-{}", sequence % u64::from(groups))),
                message_deduplication_id: groups.map(|_| sequence.to_string()),
            }
        })
        .collect();
    let request = SendMessageBatch { queue_url, entries };
    let timed = run.call(client, stats, "SendMessageBatch", request.to_body()).await;
    let Ok(response) = timed.result else {
        return 0;
    };
    let failures = serde_json::from_slice::<BatchOutput>(&response).map(|output| output.failed).unwrap_or_default();
    let sent = size.saturating_sub(failures.len() as u64);
    run.counters.sent.fetch_add(sent, Ordering::Relaxed);
    if timed.counted {
        stats.messages_sent += sent;
        for failure in failures {
            stats.count_error(format!("{} (batch entry)", failure.code));
        }
    }
    sent
}
