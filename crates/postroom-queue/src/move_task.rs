//! Message move tasks: moving the messages of a dead-letter queue back to
//! the queues they came from, or to one chosen destination.
//!
//! A task moves the messages that were in the dead-letter queue when it
//! started and are visible, in batches that are each one atomic store
//! operation, so a crash can repeat no move and lose no message. Progress
//! is stored after every batch. A task with a rate limit moves at most that
//! many messages per second of the server clock.
//!
//! A task runs under a lease in the store, renewed with every batch, so on
//! several nodes sharing a database it runs on one of them. Every node scans
//! for running tasks whose lease has lapsed and takes them over, which is
//! also how a restarted server resumes its tasks.

use crate::arn::{parse_queue_arn, queue_arn};
use crate::engine::{EngineError, QueueEngine};
use parking_lot::Mutex;
use postroom_store::{MoveRequest, MoveTaskRecord, QueueId, QueueRecord, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Largest number of messages moved in one store operation.
const BATCH: usize = 100;
/// Lifetime of a task lease on the server clock, in milliseconds.
const LEASE_MS: u64 = 30_000;

fn lease_name(task_id: &str) -> String {
    format!("move-task/{task_id}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveTaskStatus {
    Running,
    Cancelling,
    Cancelled,
    Completed,
    Failed,
}

impl MoveTaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveTaskStatus::Running => "RUNNING",
            MoveTaskStatus::Cancelling => "CANCELLING",
            MoveTaskStatus::Cancelled => "CANCELLED",
            MoveTaskStatus::Completed => "COMPLETED",
            MoveTaskStatus::Failed => "FAILED",
        }
    }
}

/// Input of [`QueueEngine::start_move_task`], resolved by the caller.
pub struct StartMoveTask {
    pub source: QueueRecord,
    pub destination: Option<QueueRecord>,
    pub max_messages_per_second: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveTaskError {
    #[error("a move task is already running for {0}")]
    AlreadyRunning(String),
    #[error("no move task has this handle")]
    NotFound,
    #[error("the move task is not running")]
    NotRunning,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for MoveTaskError {
    fn from(error: StoreError) -> Self {
        MoveTaskError::Engine(EngineError::Store(error))
    }
}

/// Signals to one running task.
#[derive(Default)]
struct TaskControl {
    /// Set by a user's cancel: the task ends as `CANCELLED`.
    cancel: AtomicBool,
    /// Set when the server stops or resets: the task ends without a trace,
    /// so that a restart resumes it.
    stop: AtomicBool,
    wake: Notify,
}

/// The running tasks of one engine.
#[derive(Default)]
pub(crate) struct MoveTasks {
    controls: Mutex<HashMap<String, Arc<TaskControl>>>,
}

impl MoveTasks {
    /// Stops every running task without changing its stored status.
    pub fn cancel_all(&self) {
        for (_, control) in self.controls.lock().drain() {
            control.stop.store(true, Ordering::SeqCst);
            control.wake.notify_waiters();
        }
    }
}

enum Finished {
    Completed,
    Cancelled,
    Stopped,
}

impl QueueEngine {
    /// Starts moving the messages of a dead-letter queue.
    pub async fn start_move_task(self: &Arc<Self>, start: StartMoveTask) -> Result<MoveTaskRecord, MoveTaskError> {
        let source_arn = queue_arn(&start.source.key);
        let running = self.store().move_tasks().await?;
        if running.iter().any(|task| task.source_arn == source_arn && task.status == MoveTaskStatus::Running.as_str()) {
            return Err(MoveTaskError::AlreadyRunning(source_arn));
        }
        let counts = self.counts(&start.source).await?;
        let task = MoveTaskRecord {
            // Version 7 ids grow with time, which orders tasks started in the
            // same millisecond of a manual clock.
            task_id: uuid::Uuid::now_v7().to_string(),
            source_arn,
            source_queue: start.source.id,
            destination_arn: start.destination.as_ref().map(|queue| queue_arn(&queue.key)),
            max_messages_per_second: start.max_messages_per_second,
            status: MoveTaskStatus::Running.as_str().to_string(),
            moved: 0,
            to_move: counts.visible + counts.in_flight + counts.delayed,
            up_to_seq: self.store().last_seq(start.source.id).await?,
            failure_reason: None,
            started_at: self.clock().now(),
        };
        self.store().put_move_task(task.clone()).await?;
        tracing::info!(task = %task.task_id, source = %task.source_arn, to_move = task.to_move, "started a message move task");
        if self.take_lease(&task.task_id).await? {
            self.spawn_move_task(task.clone());
        }
        Ok(task)
    }

    /// Lists the tasks of a source queue, newest first.
    pub async fn list_move_tasks(&self, source_arn: &str) -> Result<Vec<MoveTaskRecord>, EngineError> {
        let mut tasks: Vec<_> =
            self.store().move_tasks().await?.into_iter().filter(|task| task.source_arn == source_arn).collect();
        tasks.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| b.task_id.cmp(&a.task_id)));
        Ok(tasks)
    }

    /// Asks a running task to stop and returns its current record. The node
    /// that runs the task notices within one batch.
    pub async fn cancel_move_task(&self, task_id: &str) -> Result<MoveTaskRecord, MoveTaskError> {
        let tasks = self.store().move_tasks().await?;
        let mut task = tasks.into_iter().find(|task| task.task_id == task_id).ok_or(MoveTaskError::NotFound)?;
        if task.status != MoveTaskStatus::Running.as_str() {
            return Err(MoveTaskError::NotRunning);
        }
        let control = self.move_tasks.controls.lock().get(task_id).cloned();
        // A task that no node runs ends at once.
        let orphaned = control.is_none() && self.take_lease(task_id).await?;
        let status = if orphaned { MoveTaskStatus::Cancelled } else { MoveTaskStatus::Cancelling };
        task.status = status.as_str().to_string();
        self.store().put_move_task(task.clone()).await?;
        if let Some(control) = control {
            control.cancel.store(true, Ordering::SeqCst);
            control.wake.notify_waiters();
        }
        tracing::info!(task = %task.task_id, moved = task.moved, "cancelled a message move task");
        Ok(task)
    }

    async fn take_lease(&self, task_id: &str) -> Result<bool, StoreError> {
        let now = self.clock().now();
        self.store().acquire_lease(&lease_name(task_id), &self.node_id, now, now + LEASE_MS).await
    }

    /// Takes over the running tasks that no node holds, and ends cancelled
    /// ones that no node runs. Returns how many tasks it started here.
    pub async fn resume_move_tasks(self: &Arc<Self>) -> Result<usize, EngineError> {
        let mut resumed = 0;
        for mut task in self.store().move_tasks().await? {
            let running_here = self.move_tasks.controls.lock().contains_key(&task.task_id);
            let active = task.status == MoveTaskStatus::Running.as_str() || task.status == MoveTaskStatus::Cancelling.as_str();
            if running_here || !active || !self.take_lease(&task.task_id).await? {
                continue;
            }
            if task.status == MoveTaskStatus::Running.as_str() {
                tracing::info!(task = %task.task_id, source = %task.source_arn, "resuming a message move task");
                self.spawn_move_task(task);
                resumed += 1;
            } else {
                task.status = MoveTaskStatus::Cancelled.as_str().to_string();
                self.store().put_move_task(task).await?;
            }
        }
        Ok(resumed)
    }

    /// Runs [`Self::resume_move_tasks`] now and then every half lease on the
    /// server clock, until the server stops.
    pub async fn supervise_move_tasks(self: Arc<Self>) {
        loop {
            match self.resume_move_tasks().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "took over message move tasks"),
                Err(error) => tracing::warn!(%error, "scanning message move tasks failed"),
            }
            let next = self.clock().now() + LEASE_MS / 2;
            tokio::select! {
                () = self.clock().sleep_until(next) => {}
                () = self.stopped() => return,
            }
        }
    }

    fn spawn_move_task(self: &Arc<Self>, task: MoveTaskRecord) {
        let control = Arc::new(TaskControl::default());
        self.move_tasks.controls.lock().insert(task.task_id.clone(), control.clone());
        let engine = self.clone();
        tokio::spawn(async move { engine.run_move_task(task, control).await });
    }

    async fn run_move_task(self: Arc<Self>, mut task: MoveTaskRecord, control: Arc<TaskControl>) {
        let result = self.move_until_done(&mut task, &control).await;
        self.move_tasks.controls.lock().remove(&task.task_id);
        let status = match result {
            Ok(Finished::Stopped) => return,
            Ok(Finished::Completed) => MoveTaskStatus::Completed,
            Ok(Finished::Cancelled) => MoveTaskStatus::Cancelled,
            Err(reason) => {
                tracing::warn!(task = %task.task_id, source = %task.source_arn, %reason, "a message move task failed");
                task.failure_reason = Some(reason);
                MoveTaskStatus::Failed
            }
        };
        task.status = status.as_str().to_string();
        tracing::info!(task = %task.task_id, status = status.as_str(), moved = task.moved, "a message move task ended");
        if let Err(error) = self.store().put_move_task(task.clone()).await {
            tracing::error!(task = %task.task_id, %error, "storing the end of a message move task failed");
        }
    }

    async fn move_until_done(&self, task: &mut MoveTaskRecord, control: &TaskControl) -> Result<Finished, String> {
        let per_second = task.max_messages_per_second.map(|rate| rate as usize);
        loop {
            let woken = control.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if control.stop.load(Ordering::SeqCst) {
                return Ok(Finished::Stopped);
            }
            if control.cancel.load(Ordering::SeqCst) {
                return Ok(Finished::Cancelled);
            }
            // The lease keeps other nodes off the task; the stored status
            // carries a cancel made on another node.
            if !self.take_lease(&task.task_id).await.map_err(|error| error.to_string())? {
                return Ok(Finished::Stopped);
            }
            let stored = self.store().move_tasks().await.map_err(|error| error.to_string())?;
            match stored.iter().find(|stored| stored.task_id == task.task_id).map(|stored| stored.status.as_str()) {
                Some("RUNNING") => {}
                Some("CANCELLING") => return Ok(Finished::Cancelled),
                _ => return Ok(Finished::Stopped),
            }

            let second_started = self.clock().now();
            let allowance = per_second.unwrap_or(BATCH);
            let mut attempted = 0;
            while attempted < allowance {
                let limit = (allowance - attempted).min(BATCH);
                let now = self.clock().now();
                let movable = self
                    .store()
                    .movable_messages(task.source_queue, now, task.up_to_seq, limit)
                    .await
                    .map_err(|error| match error {
                        StoreError::QueueNotFound(_) => format!("the source queue {} was deleted", task.source_arn),
                        other => other.to_string(),
                    })?;
                if movable.is_empty() {
                    return Ok(Finished::Completed);
                }
                attempted += movable.len();

                let mut by_destination: HashMap<QueueId, Vec<u64>> = HashMap::new();
                for message in &movable {
                    let arn = task
                        .destination_arn
                        .as_deref()
                        .or(message.dead_letter_source_arn.as_deref())
                        .ok_or("a message in the dead-letter queue has no source queue; start the task with a DestinationArn")?;
                    let destination = self.resolve_destination(arn).await?;
                    by_destination.entry(destination).or_default().push(message.seq);
                }
                for (destination, seqs) in by_destination {
                    let request = MoveRequest { from: task.source_queue, to: destination, seqs, now };
                    let moved = self.store().move_messages(request).await.map_err(|error| error.to_string())?;
                    task.moved += moved as u64;
                    self.wake(destination);
                }
                if control.stop.load(Ordering::SeqCst) {
                    return Ok(Finished::Stopped);
                }
                self.store().put_move_task(task.clone()).await.map_err(|error| error.to_string())?;
            }
            match per_second {
                Some(_) => {
                    // A task that moved its last message in this second ends
                    // now rather than a second later.
                    let now = self.clock().now();
                    let remaining = self
                        .store()
                        .movable_messages(task.source_queue, now, task.up_to_seq, 1)
                        .await
                        .map_err(|error| error.to_string())?;
                    if remaining.is_empty() {
                        return Ok(Finished::Completed);
                    }
                    tokio::select! {
                        () = self.clock().sleep_until(second_started + 1000) => {}
                        () = &mut woken => {}
                    }
                }
                None => tokio::task::yield_now().await,
            }
        }
    }

    async fn resolve_destination(&self, arn: &str) -> Result<QueueId, String> {
        let missing = || format!("the destination queue {arn} does not exist");
        let key = parse_queue_arn(arn).ok_or_else(missing)?;
        match self.store().get_queue(&key).await {
            Ok(Some(queue)) => Ok(queue.id),
            Ok(None) => Err(missing()),
            Err(error) => Err(error.to_string()),
        }
    }
}
