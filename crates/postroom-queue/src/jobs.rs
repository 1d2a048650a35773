//! Internal queues used as durable job lists: SNS and EventBridge write one
//! job per delivery and workers settle each job after an attempt.

use crate::engine::{DeliveredMessage, EngineError, QueueEngine};
use postroom_store::QueueRecord;
use std::future::Future;

/// Result of one attempt of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Delivered, dead-lettered or dropped: the job ends.
    Done,
    /// Tried again after this many seconds.
    Retry(u64),
}

/// Deletes the finished jobs of `outcomes`, given by receipt handle, and
/// hides the retried ones until their next attempt, with one request each.
/// `kind` names the jobs in the log lines of a failure.
pub async fn settle(engine: &QueueEngine, queue: &QueueRecord, outcomes: &[(String, JobOutcome)], kind: &str) {
    let done: Vec<&str> =
        outcomes.iter().filter(|(_, outcome)| *outcome == JobOutcome::Done).map(|(handle, _)| handle.as_str()).collect();
    let retries: Vec<(&str, u64)> = outcomes
        .iter()
        .filter_map(|(handle, outcome)| match outcome {
            JobOutcome::Retry(backoff) => Some((handle.as_str(), *backoff)),
            JobOutcome::Done => None,
        })
        .collect();
    // A reset deletes the queue with its jobs, so there is nothing left to
    // settle and nothing to warn about.
    if !retries.is_empty() {
        match engine.change_visibility(queue, &retries).await {
            Ok(_) | Err(EngineError::QueueNotFound) => {}
            Err(error) => tracing::warn!(%error, queue = %queue.key.name, "scheduling {kind} retries failed"),
        }
    }
    if !done.is_empty() {
        match engine.delete(queue, &done).await {
            Ok(_) | Err(EngineError::QueueNotFound) => {}
            Err(error) => tracing::warn!(%error, queue = %queue.key.name, "removing finished {kind} failed; they may repeat"),
        }
    }
}

/// Runs `attempt` on every job of one receive at once, each on a task of
/// its own, and returns the outcomes by receipt handle. Jobs that write to
/// the store so share its syncs. A job whose task panicked is left out and
/// comes back after its visibility timeout.
pub async fn attempt_together<F, Fut>(received: Vec<DeliveredMessage>, attempt: F, kind: &str) -> Vec<(String, JobOutcome)>
where
    F: Fn(DeliveredMessage) -> Fut,
    Fut: Future<Output = (String, JobOutcome)> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    for delivery in received {
        running.spawn(attempt(delivery));
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => tracing::error!(%error, "a task of {kind} failed"),
        }
    }
    outcomes
}
