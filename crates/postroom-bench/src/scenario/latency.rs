//! `latency`: one message every `--interval-ms` to one long-polling
//! consumer, timed from the send's response to the message's arrival, and
//! also from the start of the send request, which never comes out negative.
//!
//! Three connections: the producer, the consumer, and a third that deletes
//! what the consumer received, so that the consumer's next long poll starts
//! as soon as its previous one returns.

use super::cycle::delete;
use crate::runner::{Run, Stats};
use crate::sqs::{self, SendMessage};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Whichever of a message's two events came first.
enum FirstEvent {
    /// The send's response arrived, at this time.
    Answered(Instant),
    /// The consumer received the message before the send's response came.
    Arrived(Instant),
}

type Pending = Arc<Mutex<HashMap<u64, FirstEvent>>>;

pub async fn latency(run: Arc<Run>, queue_url: Arc<str>) -> Stats {
    let pending: Pending = Arc::default();
    let (handles_tx, handles_rx) = mpsc::unbounded_channel();

    let producer = tokio::spawn(produce(run.clone(), queue_url.clone(), pending.clone()));
    let consumer = tokio::spawn(consume(run.clone(), queue_url.clone(), pending, handles_tx));
    let deleter = tokio::spawn(delete_received(run, queue_url, handles_rx));
    super::join_all(vec![producer, consumer, deleter]).await
}

async fn produce(run: Arc<Run>, queue_url: Arc<str>, pending: Pending) -> Stats {
    let mut client = run.client(0);
    let mut stats = Stats::default();
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(run.options.interval_ms.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = tokio::time::Instant::from_std(run.end);
    while !run.finished() {
        // A long interval must not carry the producer past the window.
        tokio::select! {
            _ = ticks.tick() => {}
            () = tokio::time::sleep_until(end) => break,
        }
        let sequence = run.next_sequences(1);
        let started = Instant::now();
        let body = sqs::message_body(sequence, run.micros_since_base(started), run.options.body_size);
        let request = SendMessage { queue_url: &queue_url, message_body: &body };
        let timed = run.call(&mut client, &mut stats, "SendMessage", request.to_body()).await;
        if timed.result.is_err() {
            continue;
        }
        run.counters.sent.fetch_add(1, Ordering::Relaxed);
        if timed.counted {
            stats.messages_sent += 1;
        }
        let arrived = {
            let mut pending = pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match pending.remove(&sequence) {
                Some(FirstEvent::Arrived(arrived)) => Some(arrived),
                _ => {
                    pending.insert(sequence, FirstEvent::Answered(timed.finished));
                    None
                }
            }
        };
        if let Some(arrived) = arrived {
            if run.in_window(started, timed.finished) {
                stats.early_arrivals += 1;
                stats.end_to_end.record_micros(0);
                stats.from_send_start.record(arrived.saturating_duration_since(started));
            }
        }
    }
    stats
}

async fn consume(
    run: Arc<Run>,
    queue_url: Arc<str>,
    pending: Pending,
    handles: mpsc::UnboundedSender<Vec<String>>,
) -> Stats {
    let mut client = run.client(1);
    let mut stats = Stats::default();
    while !run.finished() {
        let received = receive_with_bodies(&run, &mut client, &mut stats, &queue_url).await;

        let arrived = Instant::now();
        let mut receipt_handles = Vec::with_capacity(received.len());
        for (sequence, sent_micros, receipt_handle) in received {
            receipt_handles.push(receipt_handle);
            let answered = {
                let mut pending = pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match pending.remove(&sequence) {
                    Some(FirstEvent::Answered(answered)) => Some(answered),
                    _ => {
                        pending.insert(sequence, FirstEvent::Arrived(arrived));
                        None
                    }
                }
            };
            if let Some(answered) = answered {
                if run.in_window(answered, arrived) {
                    stats.end_to_end.record(arrived - answered);
                    stats.from_send_start.record_micros(run.micros_since_base(arrived).saturating_sub(sent_micros));
                }
            }
        }
        if !receipt_handles.is_empty() {
            let _ = handles.send(receipt_handles);
        }
    }
    stats
}

/// Receives once and returns the sequence number, send time and receipt
/// handle of each message that carries a bench body.
async fn receive_with_bodies(
    run: &Run,
    client: &mut crate::client::Client,
    stats: &mut Stats,
    queue_url: &str,
) -> Vec<(u64, u64, String)> {
    let request =
        sqs::ReceiveMessage { queue_url, max_number_of_messages: 10, wait_time_seconds: run.options.wait_time_seconds };
    let timed = run.call(client, stats, "ReceiveMessage", sqs::to_body(&request)).await;
    let Ok(response) = timed.result else {
        return Vec::new();
    };
    let Ok(output) = serde_json::from_slice::<sqs::ReceiveMessageOutput>(&response) else {
        if timed.counted {
            stats.count_error("undecodable ReceiveMessage response".to_string());
        }
        return Vec::new();
    };
    run.counters.received.fetch_add(output.messages.len() as u64, Ordering::Relaxed);
    if timed.counted {
        stats.messages_received += output.messages.len() as u64;
    }
    output
        .messages
        .into_iter()
        .filter_map(|message| {
            let (sequence, sent_micros) = sqs::parse_body(&message.body)?;
            Some((sequence, sent_micros, message.receipt_handle))
        })
        .collect()
}

async fn delete_received(
    run: Arc<Run>,
    queue_url: Arc<str>,
    mut handles: mpsc::UnboundedReceiver<Vec<String>>,
) -> Stats {
    let mut client = run.client(2);
    let mut stats = Stats::default();
    while let Some(mut batch) = handles.recv().await {
        while batch.len() < 10 {
            match handles.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        for chunk in batch.chunks(10) {
            delete(&run, &mut client, &mut stats, &queue_url, chunk.to_vec()).await;
        }
    }
    stats
}
