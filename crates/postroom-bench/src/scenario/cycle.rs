//! `cycle`, `fifo` and `fifo-hot`: producers send batches while consumers
//! receive and delete them, so every message makes the whole trip.

use super::send::send_one_batch;
use crate::client::Client;
use crate::runner::{Run, Stats};
use crate::sqs::{self, BatchOutput, DeleteEntry, DeleteMessageBatch, ReceiveMessage, ReceiveMessageOutput};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::Notify;

/// Messages per ReceiveMessage, the SQS maximum.
const RECEIVE_BATCH: u32 = 10;

/// Runs producers on half the connections (at least one) and consumers on
/// the rest. `groups` makes the producers write FIFO group and
/// deduplication ids.
pub async fn cycle(run: Arc<Run>, queue_url: Arc<str>, groups: Option<u32>) -> Stats {
    let (producers, consumers) = split_connections(&run);
    let received = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for index in 0..producers {
        let run = run.clone();
        let queue_url = queue_url.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = run.client(index);
            let mut stats = Stats::default();
            while !run.finished() {
                wait_for_room(&run, &received).await;
                send_one_batch(&run, &mut client, &mut stats, &queue_url, groups).await;
            }
            stats
        }));
    }
    for index in producers..producers + consumers {
        let run = run.clone();
        let queue_url = queue_url.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move { consume(&run, &[queue_url], 0, index, &received).await }));
    }
    super::join_all(tasks).await
}

/// Splits the connections into producers, half of them and at least one,
/// and consumers, the rest and at least one.
pub(super) fn split_connections(run: &Run) -> (usize, usize) {
    let producers = (run.options.concurrency / 2).max(1);
    (producers, run.options.concurrency.saturating_sub(producers).max(1))
}

/// Waits while `--max-backlog` messages are sent but not received. The
/// measurement's end also releases the wait, so that no producer outlives
/// it.
pub(super) async fn wait_for_room(run: &Run, received: &Notify) {
    let limit = run.options.max_backlog;
    if limit == 0 {
        return;
    }
    loop {
        // Registered before the check, so that a receive between the check
        // and the wait still wakes this producer.
        let notified = received.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let sent = run.counters.sent.load(Ordering::Relaxed);
        let backlog = sent.saturating_sub(run.counters.received.load(Ordering::Relaxed));
        if backlog < limit || run.finished() {
            return;
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(run.end.into()) => {}
        }
    }
}

/// Receives and deletes until the measurement ends, from each of
/// `queue_urls` in turn, starting at the one of index `first`. A receive
/// still waiting when the measurement ends is abandoned.
pub(super) async fn consume<Url: AsRef<str>>(
    run: &Run,
    queue_urls: &[Url],
    first: usize,
    index: usize,
    received: &Notify,
) -> Stats {
    let mut client = run.client(index);
    let mut stats = Stats::default();
    let mut turn = first;
    while !run.finished() {
        let queue_url = queue_urls[turn % queue_urls.len()].as_ref();
        turn += 1;
        let handles = receive(run, &mut client, &mut stats, queue_url, run.options.wait_time_seconds).await;
        if !handles.is_empty() {
            received.notify_waiters();
            delete(run, &mut client, &mut stats, queue_url, handles).await;
        }
    }
    stats
}

/// Receives up to 10 messages, records their send-to-receive latency when
/// inside the window, and returns their receipt handles.
pub async fn receive(
    run: &Run,
    client: &mut Client,
    stats: &mut Stats,
    queue_url: &str,
    wait_time_seconds: u32,
) -> Vec<String> {
    let request = ReceiveMessage { queue_url, max_number_of_messages: RECEIVE_BATCH, wait_time_seconds };
    let timed = run.call(client, stats, "ReceiveMessage", sqs::to_body(&request)).await;
    let Ok(response) = timed.result else {
        return Vec::new();
    };
    let messages = match serde_json::from_slice::<ReceiveMessageOutput>(&response) {
        Ok(output) => output.messages,
        Err(_) => {
            if timed.counted {
                stats.count_error("undecodable ReceiveMessage response".to_string());
            }
            return Vec::new();
        }
    };
    run.counters.received.fetch_add(messages.len() as u64, Ordering::Relaxed);
    let received_micros = run.micros_since_base(timed.finished);
    let mut handles = Vec::with_capacity(messages.len());
    for message in messages {
        if timed.counted {
            stats.messages_received += 1;
            if let Some((_, sent_micros)) = sqs::parse_delivered_body(&message.body) {
                stats.end_to_end.record_micros(received_micros.saturating_sub(sent_micros));
            }
        }
        handles.push(message.receipt_handle);
    }
    handles
}

/// Deletes received messages with one DeleteMessageBatch.
pub async fn delete(run: &Run, client: &mut Client, stats: &mut Stats, queue_url: &str, handles: Vec<String>) {
    let entries = handles
        .into_iter()
        .enumerate()
        .map(|(index, receipt_handle)| DeleteEntry { id: index.to_string(), receipt_handle })
        .collect();
    let request = DeleteMessageBatch { queue_url, entries };
    let timed = run.call(client, stats, "DeleteMessageBatch", sqs::to_body(&request)).await;
    if let (Ok(response), true) = (timed.result, timed.counted) {
        let failures = serde_json::from_slice::<BatchOutput>(&response).map(|output| output.failed).unwrap_or_default();
        for failure in failures {
            stats.count_error(format!("{} (delete entry)", failure.code));
        }
    }
}
