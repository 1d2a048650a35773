//! `backlog` fills a queue with a fixed number of messages; `drain` empties
//! it again, typically after a server restart.

use super::cycle::{delete, receive};
use super::send::send_batch_of;
use crate::histogram::Histogram;
use crate::runner::{Run, Stats};
use crate::sqs::{self, GetQueueAttributes, GetQueueAttributesOutput, GetQueueUrl, QueueUrlOutput};
use anyhow::Context as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Empty receives in a row after which a drain connection stops, with 1 s
/// long polls: a queue that stays empty that long is drained.
const EMPTY_RECEIVES_TO_STOP: u32 = 3;

/// Sends exactly `--messages` bodies in batches over every connection. The
/// last batch may be shorter. Failed sends are counted as errors and not
/// retried.
pub async fn fill(run: Arc<Run>, queue_url: Arc<str>) -> Stats {
    let claimed = Arc::new(AtomicU64::new(0));
    let batch_size = run.options.batch_size as u64;
    let total = run.options.messages;
    let tasks = (0..run.options.concurrency).map(|index| {
        let run = run.clone();
        let queue_url = queue_url.clone();
        let claimed = claimed.clone();
        tokio::spawn(async move {
            let mut client = run.client(index);
            let mut stats = Stats::default();
            loop {
                let first = claimed.fetch_add(batch_size, Ordering::Relaxed);
                if first >= total {
                    break;
                }
                let size = batch_size.min(total - first);
                send_batch_of(&run, &mut client, &mut stats, &queue_url, None, size).await;
            }
            stats
        })
    });
    super::join_all(tasks.collect()).await
}

/// Looks up the URL of `name` and the number of messages it contains
/// (visible, in flight and delayed).
pub async fn inspect(run: &Run, name: &str) -> anyhow::Result<(String, u64)> {
    let mut client = run.control_client();
    let output: QueueUrlOutput = client
        .call_json("GetQueueUrl", sqs::to_body(&GetQueueUrl { queue_name: name }))
        .await
        .with_context(|| format!("looking up the queue {name}"))?;
    let queue_url = output.queue_url.with_context(|| format!("GetQueueUrl of {name} returned no QueueUrl"))?;

    let names =
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"];
    let request = GetQueueAttributes { queue_url: &queue_url, attribute_names: &names };
    let output: GetQueueAttributesOutput = client
        .call_json("GetQueueAttributes", sqs::to_body(&request))
        .await
        .with_context(|| format!("reading the attributes of {queue_url}"))?;
    let count = names
        .iter()
        .filter_map(|name| output.attributes.get(*name))
        .filter_map(|value| value.parse::<u64>().ok())
        .sum();
    Ok((queue_url, count))
}

/// Receives and deletes until `expected` messages are deleted or every
/// connection has seen the queue empty for a while.
pub async fn drain(run: Arc<Run>, queue_url: Arc<str>, expected: u64) -> Stats {
    let deleted = Arc::new(AtomicU64::new(0));
    // Set once `expected` messages are deleted. Receives still waiting on
    // an empty queue then stop and are not counted, so that the report's
    // requests and latencies cover the drain itself.
    let (done, _) = tokio::sync::watch::channel(false);
    let done = Arc::new(done);
    let tasks = (0..run.options.concurrency).map(|index| {
        let run = run.clone();
        let queue_url = queue_url.clone();
        let deleted = deleted.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut client = run.client(index);
            let mut stats = Stats::default();
            let mut empty_receives = 0;
            let mut drained = done.subscribe();
            while deleted.load(Ordering::Relaxed) < expected && empty_receives < EMPTY_RECEIVES_TO_STOP {
                let received = tokio::select! {
                    handles = receive(&run, &mut client, &mut stats, &queue_url, 1) => Some(handles),
                    _ = drained.wait_for(|drained| *drained) => None,
                };
                let Some(handles) = received else {
                    // The receive was dropped halfway through its request.
                    client.disconnect();
                    break;
                };
                if handles.is_empty() {
                    empty_receives += 1;
                    continue;
                }
                empty_receives = 0;
                let count = handles.len() as u64;
                delete(&run, &mut client, &mut stats, &queue_url, handles).await;
                stats.last_delete = Some(std::time::Instant::now());
                if deleted.fetch_add(count, Ordering::Relaxed) + count >= expected {
                    done.send_replace(true);
                }
            }
            // The send times in the bodies count from the start of the run
            // that filled the queue, so no send-to-receive latency exists.
            stats.end_to_end = Histogram::default();
            stats
        })
    });
    super::join_all(tasks.collect()).await
}
