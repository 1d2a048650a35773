//! Internal queues used as durable job lists: SNS and EventBridge write one
//! job per delivery and workers settle each job after an attempt.

use crate::engine::{DeliveredMessage, EngineError, QueueEngine};
use postroom_store::QueueRecord;
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Time after which a batch in progress counts as slow, and its receiver
/// starts a [`Role::Standby`] receiver.
pub const SLOW_BATCH: Duration = Duration::from_millis(250);

/// Role of one receiver of a delivery queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Waits for jobs with long polls for as long as the server runs.
    Permanent,
    /// Waits with long polls and ends at its first empty receive. A receiver
    /// whose batch is slow starts one, so that new jobs do not wait behind
    /// a slow endpoint.
    Standby,
    /// Receives without waiting and ends at its first empty receive. A
    /// receiver that gets a full batch, a sign that more jobs wait, starts
    /// one.
    Burst,
}

impl Role {
    /// `WaitTimeSeconds` of this role's receives.
    pub fn wait_seconds(self) -> u64 {
        match self {
            Role::Permanent | Role::Standby => 20,
            Role::Burst => 0,
        }
    }
}

/// The receivers of one delivery queue on one node: the permanent one and
/// those started beside it, up to a limit.
pub struct Receivers {
    count: AtomicUsize,
    max: usize,
    changed: Notify,
}

impl Receivers {
    /// Counts the permanent receiver, and allows `max` receivers in all.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Receivers { count: AtomicUsize::new(1), max, changed: Notify::new() })
    }

    /// Counts one more receiver, unless the limit is reached.
    pub fn try_add(&self) -> bool {
        self.count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| (count < self.max).then_some(count + 1)).is_ok()
    }

    /// Counts a receiver that ended.
    pub fn remove(&self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Completes once only the permanent receiver is counted, so that a
    /// stopping server waits for the batches of the others too.
    pub async fn others_ended(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.count.load(Ordering::SeqCst) <= 1 {
                return;
            }
            changed.await;
        }
    }
}

/// Runs `work`, and calls `on_slow` once if it runs longer than
/// [`SLOW_BATCH`].
pub async fn noting_slow<T>(work: impl Future<Output = T>, on_slow: impl FnOnce()) -> T {
    tokio::pin!(work);
    tokio::select! {
        output = &mut work => return output,
        () = tokio::time::sleep(SLOW_BATCH) => on_slow(),
    }
    work.await
}

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
/// comes back after its visibility timeout. Once the server has been
/// stopping for its grace period, the attempts still running are aborted
/// and their jobs cut short ([`cut_short`]).
pub async fn attempt_together<F, Fut>(
    engine: &QueueEngine,
    received: Vec<DeliveredMessage>,
    attempt: F,
    kind: &str,
) -> Vec<(String, JobOutcome)>
where
    F: Fn(DeliveredMessage) -> Fut,
    Fut: Future<Output = (String, JobOutcome)> + Send + 'static,
{
    let handles: Vec<String> = received.iter().map(|delivery| delivery.receipt_handle.clone()).collect();
    let mut running = tokio::task::JoinSet::new();
    for delivery in received {
        running.spawn(attempt(delivery));
    }
    let mut outcomes = Vec::new();
    let deadline = engine.stop_deadline();
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = running.join_next() => match joined {
                Some(Ok(outcome)) => outcomes.push(outcome),
                Some(Err(error)) => tracing::error!(%error, "a task of {kind} failed"),
                None => break,
            },
            () = &mut deadline => {
                running.abort_all();
                cut_short(&handles, &mut outcomes, kind);
                break;
            }
        }
    }
    outcomes
}

/// Gives every job of `handles` that has no outcome yet a retry without
/// delay, because the server stopped before its attempt ended. Settling
/// then makes those jobs visible again, so the next start, or another node,
/// runs them at once instead of after their visibility timeout. The cut
/// attempt still counts as one.
pub fn cut_short(handles: &[String], outcomes: &mut Vec<(String, JobOutcome)>, kind: &str) {
    let finished: HashSet<&str> = outcomes.iter().map(|(handle, _)| handle.as_str()).collect();
    let unfinished: Vec<String> =
        handles.iter().filter(|handle| !finished.contains(handle.as_str())).cloned().collect();
    if !unfinished.is_empty() {
        tracing::info!(count = unfinished.len(), "stopping: {kind} in progress were cut short and will be retried");
    }
    outcomes.extend(unfinished.into_iter().map(|handle| (handle, JobOutcome::Retry(0))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_short_retries_only_unfinished_jobs() {
        let handles: Vec<String> = ["a", "b", "c"].iter().map(|handle| handle.to_string()).collect();
        let mut outcomes = vec![("b".to_string(), JobOutcome::Done)];

        cut_short(&handles, &mut outcomes, "test jobs");

        outcomes.sort_by(|left, right| left.0.cmp(&right.0));
        let expected = vec![
            ("a".to_string(), JobOutcome::Retry(0)),
            ("b".to_string(), JobOutcome::Done),
            ("c".to_string(), JobOutcome::Retry(0)),
        ];
        assert_eq!(outcomes, expected);
    }
}
