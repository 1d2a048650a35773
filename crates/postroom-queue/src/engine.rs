//! [`QueueEngine`]: the queue operations on top of a store.

use crate::clock::Clock;
use crate::config::{self, QueueConfig};
use crate::{digest, receipt};
use parking_lot::Mutex;
use postroom_store::{
    AttributeValue, ChangeVisibilityOutcome, CreateQueueOutcome, CreateQueueRequest, Deduplication, DeleteOutcome,
    MessageContent, NewMessage, PurgeOutcome, QueueCounts, QueueId, QueueKey, QueueRecord, QueueUpdate, ReceiveRequest,
    Redrive, SendOutcome, Store, StoreError, Timestamp, VisibilityChange,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the queue does not exist")]
    QueueNotFound,
    #[error("a queue with this name was deleted less than 60 seconds ago")]
    DeletedRecently,
    #[error("a purge of this queue ran less than 60 seconds ago")]
    PurgeInProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reason a receipt handle could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptError {
    /// The handle was not issued by this server for this queue.
    Invalid,
    /// The message was deleted, expired, purged or received again since.
    Expired,
    /// The message became visible again and is no longer in flight.
    NotInFlight,
    /// The visibility timeout would end more than 12 hours after the receive.
    LimitExceeded,
}

/// A message to send, validated by the caller.
#[derive(Clone, Debug)]
pub struct OutgoingMessage {
    pub body: String,
    pub message_attributes: BTreeMap<String, AttributeValue>,
    pub system_attributes: BTreeMap<String, AttributeValue>,
    /// Overrides the queue's `DelaySeconds` when given.
    pub delay_seconds: Option<u64>,
    pub sender_id: String,
    pub message_group_id: Option<String>,
    /// Explicit deduplication id of a FIFO message. Without one, a queue
    /// with content-based deduplication uses the SHA-256 of the body.
    pub message_deduplication_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SentMessage {
    /// The message as sent in this request.
    pub content: Arc<MessageContent>,
    /// Id of the enqueued message: this one, or for a duplicate within the
    /// deduplication window, the original.
    pub message_id: String,
    pub sequence_number: Option<String>,
}

/// Options of one receive, with the queue defaults applied by the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceiveOptions<'a> {
    pub max_messages: usize,
    pub visibility_timeout: Option<u64>,
    pub wait_time_seconds: Option<u64>,
    /// `ReceiveRequestAttemptId` of a FIFO receive.
    pub attempt_id: Option<&'a str>,
}

#[derive(Clone, Debug)]
pub struct DeliveredMessage {
    pub content: Arc<MessageContent>,
    pub sequence_number: Option<String>,
    pub receipt_handle: String,
    pub receive_count: u32,
    pub first_received_at: Timestamp,
}

/// Queue operations with the rules that every backend shares.
pub struct QueueEngine {
    store: Arc<dyn Store>,
    clock: Clock,
    /// One notifier per queue with long polls waiting, woken whenever a
    /// message may have become receivable, here or, through the store's
    /// change listener, on another node.
    waiters: Arc<Mutex<HashMap<QueueId, Arc<Notify>>>>,
    /// Identity of this engine as a lease holder.
    pub(crate) node_id: String,
    /// Set when the server stops, so that long polls return at once.
    stopping: std::sync::atomic::AtomicBool,
    stop: Notify,
    /// Messages moved to a dead-letter queue on receive, by source queue.
    dead_letter_moves: Mutex<HashMap<QueueKey, u64>>,
    /// Outcomes of internal deliveries (topics, rules), by service and
    /// outcome.
    deliveries: Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    pub(crate) move_tasks: crate::move_task::MoveTasks,
    /// Time a stopping server gives internal deliveries in progress to end.
    stop_grace: std::time::Duration,
}

/// Default of [`QueueEngine::with_stop_grace`].
pub const DEFAULT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl QueueEngine {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        let waiters: Arc<Mutex<HashMap<QueueId, Arc<Notify>>>> = Arc::default();
        let listener_waiters = waiters.clone();
        store.set_change_listener(Arc::new(move |queue| {
            if let Some(notify) = listener_waiters.lock().get(&queue) {
                notify.notify_waiters();
            }
        }));
        Self {
            store,
            clock,
            waiters,
            node_id: uuid::Uuid::new_v4().to_string(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            stop: Notify::new(),
            dead_letter_moves: Mutex::new(HashMap::new()),
            deliveries: Mutex::new(std::collections::BTreeMap::new()),
            move_tasks: crate::move_task::MoveTasks::default(),
            stop_grace: DEFAULT_STOP_GRACE,
        }
    }

    /// Sets how long internal deliveries in progress (topics, rules) may
    /// run once the server stops, before they are cut short.
    pub fn with_stop_grace(mut self, grace: std::time::Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn notifier(&self, queue: QueueId) -> Arc<Notify> {
        self.waiters.lock().entry(queue).or_default().clone()
    }

    pub(crate) fn wake(&self, queue: QueueId) {
        if let Some(notify) = self.waiters.lock().get(&queue) {
            notify.notify_waiters();
        }
    }

    /// Creates a queue with `attributes` over the defaults, or returns the
    /// existing queue of that key unchanged.
    pub async fn create_queue(
        &self,
        key: QueueKey,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<CreateQueueOutcome, EngineError> {
        let now = self.clock.now();
        let mut all_attributes = config::default_attributes();
        all_attributes.extend(attributes);
        let request = CreateQueueRequest {
            key,
            attributes: all_attributes,
            tags,
            now,
            deleted_after: now.saturating_sub(config::RECREATE_AFTER_DELETE_SECONDS * 1000),
        };
        match self.store.create_queue(request).await? {
            CreateQueueOutcome::DeletedRecently(_) => Err(EngineError::DeletedRecently),
            outcome => Ok(outcome),
        }
    }

    pub async fn get_queue(&self, key: &QueueKey) -> Result<Arc<QueueRecord>, EngineError> {
        self.store.get_queue(key).await?.ok_or(EngineError::QueueNotFound)
    }

    pub async fn delete_queue(&self, key: &QueueKey) -> Result<(), EngineError> {
        let record = self.store.delete_queue(key, self.clock.now()).await?.ok_or(EngineError::QueueNotFound)?;
        // Long polls on the deleted queue wake up and report it missing.
        if let Some(notify) = self.waiters.lock().remove(&record.id) {
            notify.notify_waiters();
        }
        Ok(())
    }

    pub async fn list_queues(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, EngineError> {
        Ok(self.store.list_queues(account, region, prefix, after, limit).await?)
    }

    pub async fn update_queue(&self, key: &QueueKey, mut update: QueueUpdate) -> Result<QueueRecord, EngineError> {
        update.now = self.clock.now();
        let record = self.store.update_queue(key, update).await?.ok_or(EngineError::QueueNotFound)?;
        // A shorter delay or wait time may concern long polls in progress.
        self.wake(record.id);
        Ok(record)
    }

    /// Sends messages and returns them with their ids and digests, in order.
    pub async fn send(&self, queue: &QueueRecord, messages: Vec<OutgoingMessage>) -> Result<Vec<SentMessage>, EngineError> {
        let config = QueueConfig::from_attributes(&queue.attributes);
        let fifo = config::is_fifo(&queue.attributes);
        let content_based = queue.attributes.get("ContentBasedDeduplication").is_some_and(|v| v == "true");
        let per_group = queue.attributes.get("DeduplicationScope").is_some_and(|v| v == "messageGroup");
        let now = self.clock.now();
        let mut new_messages = Vec::with_capacity(messages.len());
        let bodies: Vec<&[u8]> = messages.iter().map(|message| message.body.as_bytes()).collect();
        let body_digests = digest::md5_hex_each(&bodies);
        for (message, md5_of_body) in messages.into_iter().zip(body_digests) {
            let delay = message.delay_seconds.unwrap_or(config.delay_seconds);
            let deduplication_id = match message.message_deduplication_id {
                Some(id) => Some(id),
                None if fifo && content_based => Some(digest::sha256_hex(message.body.as_bytes())),
                None => None,
            };
            let deduplication = deduplication_id.as_ref().filter(|_| fifo).map(|id| Deduplication {
                key: match (&message.message_group_id, per_group) {
                    // Group ids are printable ASCII without spaces, so a space
                    // separates the two parts unambiguously.
                    (Some(group), true) => format!("{group} {id}"),
                    _ => id.clone(),
                },
                expires_at: now + config::DEDUPLICATION_WINDOW_SECONDS * 1000,
            });
            let content = Arc::new(MessageContent {
                message_id: uuid::Uuid::new_v4().to_string(),
                md5_of_body,
                md5_of_message_attributes: digest::md5_of_attributes(&message.message_attributes),
                md5_of_message_system_attributes: digest::md5_of_attributes(&message.system_attributes),
                body: message.body,
                message_attributes: message.message_attributes,
                system_attributes: message.system_attributes,
                sender_id: message.sender_id,
                sent_at: now,
                message_group_id: message.message_group_id,
                message_deduplication_id: deduplication_id,
                dead_letter_source_arn: None,
            });
            new_messages.push(NewMessage { content, visible_at: now + delay * 1000, deduplication });
        }
        let contents: Vec<Arc<MessageContent>> = new_messages.iter().map(|m| m.content.clone()).collect();
        let outcomes = self.store.send_messages(queue.id, new_messages).await.map_err(not_found_as_queue)?;
        self.wake(queue.id);
        Ok(contents
            .into_iter()
            .zip(outcomes)
            .map(|(content, outcome)| {
                let sequence_number = fifo.then(|| config::sequence_number(outcome.seq()));
                let message_id = match outcome {
                    SendOutcome::Enqueued { .. } => content.message_id.clone(),
                    SendOutcome::Duplicate { message_id, .. } => message_id,
                };
                SentMessage { content, message_id, sequence_number }
            })
            .collect())
    }

    /// Receives up to `options.max_messages` messages, waiting up to the
    /// wait time for the first one to become receivable.
    pub async fn receive(&self, queue: &QueueRecord, options: ReceiveOptions<'_>) -> Result<Vec<DeliveredMessage>, EngineError> {
        let config = QueueConfig::from_attributes(&queue.attributes);
        let fifo = config::is_fifo(&queue.attributes);
        let visibility_timeout = options.visibility_timeout.unwrap_or(config.visibility_timeout);
        let wait_seconds = options.wait_time_seconds.unwrap_or(config.receive_message_wait_time_seconds);
        let deadline = self.clock.now().saturating_add(wait_seconds * 1000);
        let redrive = self.redrive_of(queue).await?;
        loop {
            // Registering before the attempt means that a send completing
            // between the attempt and the wait still wakes this poll. The
            // notifier is looked up on every pass, because a reset replaces
            // them all, and a poll left on a replaced one misses every send.
            let notify = self.notifier(queue.id);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.waiters.lock().get(&queue.id).is_some_and(|current| Arc::ptr_eq(current, &notify)) {
                // A reset replaced the notifier between the lookup and the
                // registration, so look it up again.
                continue;
            }
            let stopped = self.stop.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            let stopping = self.stopping.load(std::sync::atomic::Ordering::SeqCst);

            let now = self.clock.now();
            let request = ReceiveRequest {
                now,
                max_messages: options.max_messages,
                visibility_timeout_ms: visibility_timeout * 1000,
                retention_ms: config.message_retention_period * 1000,
                fifo,
                attempt_id: options.attempt_id.filter(|_| fifo),
                attempt_window_ms: config::RECEIVE_ATTEMPT_WINDOW_SECONDS * 1000,
                redrive: redrive.as_ref(),
            };
            let outcome = self.store.receive_messages(queue.id, request).await.map_err(not_found_as_queue)?;
            if outcome.moved_to_dead_letter_queue > 0 {
                if let Some(redrive) = &redrive {
                    tracing::debug!(
                        queue = %redrive.source_arn,
                        count = outcome.moved_to_dead_letter_queue,
                        "moved messages to the dead-letter queue"
                    );
                    *self.dead_letter_moves.lock().entry(queue.key.clone()).or_default() +=
                        outcome.moved_to_dead_letter_queue as u64;
                    self.wake(redrive.dead_letter_queue);
                }
            }
            if !outcome.messages.is_empty() || now >= deadline || stopping {
                return Ok(outcome
                    .messages
                    .into_iter()
                    .map(|message| DeliveredMessage {
                        sequence_number: fifo.then(|| config::sequence_number(message.seq)),
                        receipt_handle: receipt::encode(queue.id, message.receipt),
                        content: message.content,
                        receive_count: message.receive_count,
                        first_received_at: message.first_received_at,
                    })
                    .collect());
            }
            let wake_at = outcome.next_visible_at.map_or(deadline, |at| at.min(deadline));
            // A store that can miss a change made on another node sets a
            // bound on how long a poll sleeps before it looks again.
            let fallback = async {
                match self.store.poll_interval() {
                    Some(interval) => tokio::time::sleep(interval).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = &mut stopped => {}
                () = self.clock.sleep_until(wake_at) => {}
                () = fallback => {}
            }
            if self.store.get_queue(&queue.key).await?.is_none_or(|current| current.id != queue.id) {
                return Err(EngineError::QueueNotFound);
            }
        }
    }

    /// Resolves the queue's `RedrivePolicy` to its dead-letter queue. A
    /// policy whose dead-letter queue no longer exists moves nothing.
    async fn redrive_of(&self, queue: &QueueRecord) -> Result<Option<Redrive>, EngineError> {
        let Some(policy) = queue.attributes.get("RedrivePolicy") else { return Ok(None) };
        let Some(parsed) = crate::config::RedrivePolicy::parse(policy) else { return Ok(None) };
        let Some(target_key) = crate::arn::parse_queue_arn(&parsed.dead_letter_target_arn) else { return Ok(None) };
        let Some(target) = self.store.get_queue(&target_key).await? else { return Ok(None) };
        Ok(Some(Redrive {
            dead_letter_queue: target.id,
            max_receive_count: parsed.max_receive_count,
            source_arn: crate::arn::queue_arn(&queue.key),
            reset_enqueue_time: config::is_fifo(&queue.attributes),
        }))
    }

    /// Counts one outcome of an internal delivery: `delivered`, `retried`,
    /// `dead_lettered` or `dropped`.
    pub fn count_delivery(&self, service: &'static str, outcome: &'static str) {
        *self.deliveries.lock().entry((service, outcome)).or_default() += 1;
    }

    /// Outcomes of internal deliveries since the start.
    pub fn delivery_counts(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.deliveries.lock().iter().map(|(key, count)| (*key, *count)).collect()
    }

    /// Messages moved to a dead-letter queue on receive since the start,
    /// by source queue.
    pub fn dead_letter_moves(&self) -> Vec<(QueueKey, u64)> {
        let mut moves: Vec<_> = self.dead_letter_moves.lock().iter().map(|(k, v)| (k.clone(), *v)).collect();
        moves.sort();
        moves
    }

    /// Deletes messages by receipt handle, one result per handle.
    ///
    /// On a standard queue, a handle that names a message received again
    /// since, or one already gone, deletes nothing and still succeeds. On a
    /// FIFO queue such a handle, or one whose visibility timeout has ended,
    /// has expired.
    pub async fn delete(&self, queue: &QueueRecord, handles: &[&str]) -> Result<Vec<Result<(), ReceiptError>>, EngineError> {
        let mut results: Vec<Result<(), ReceiptError>> = Vec::with_capacity(handles.len());
        let mut receipts = Vec::new();
        let mut positions = Vec::new();
        for (position, handle) in handles.iter().enumerate() {
            match receipt::decode(handle) {
                Some((id, receipt)) if id == queue.id => {
                    receipts.push(receipt);
                    positions.push(position);
                    results.push(Ok(()));
                }
                _ => results.push(Err(ReceiptError::Invalid)),
            }
        }
        if !receipts.is_empty() {
            let fifo = config::is_fifo(&queue.attributes);
            let in_flight_at = fifo.then(|| self.clock.now());
            let outcomes = self.store.delete_messages(queue.id, &receipts, in_flight_at).await.map_err(not_found_as_queue)?;
            for (position, outcome) in positions.into_iter().zip(outcomes) {
                results[position] = match outcome {
                    DeleteOutcome::Deleted => Ok(()),
                    _ if fifo => Err(ReceiptError::Expired),
                    _ => Ok(()),
                };
            }
            // Deleting the message in flight of a FIFO group unlocks the rest
            // of the group.
            if fifo {
                self.wake(queue.id);
            }
        }
        Ok(results)
    }

    /// Changes the visibility timeout of received messages, one result per
    /// entry. The new timeout counts from now.
    pub async fn change_visibility(
        &self,
        queue: &QueueRecord,
        entries: &[(&str, u64)],
    ) -> Result<Vec<Result<(), ReceiptError>>, EngineError> {
        let now = self.clock.now();
        let mut results: Vec<Result<(), ReceiptError>> = Vec::with_capacity(entries.len());
        let mut changes = Vec::new();
        let mut positions = Vec::new();
        for (position, (handle, timeout)) in entries.iter().enumerate() {
            match receipt::decode(handle) {
                Some((id, receipt)) if id == queue.id => {
                    changes.push(VisibilityChange {
                        receipt,
                        now,
                        visibility_timeout_ms: timeout * 1000,
                        max_total_ms: config::MAX_VISIBILITY_TOTAL_SECONDS * 1000,
                    });
                    positions.push(position);
                    results.push(Ok(()));
                }
                _ => results.push(Err(ReceiptError::Invalid)),
            }
        }
        if !changes.is_empty() {
            let outcomes = self.store.change_visibility(queue.id, &changes).await.map_err(not_found_as_queue)?;
            for (position, outcome) in positions.into_iter().zip(outcomes) {
                results[position] = match outcome {
                    ChangeVisibilityOutcome::Changed => Ok(()),
                    ChangeVisibilityOutcome::NotInFlight => Err(ReceiptError::NotInFlight),
                    ChangeVisibilityOutcome::LimitExceeded => Err(ReceiptError::LimitExceeded),
                    ChangeVisibilityOutcome::Stale | ChangeVisibilityOutcome::NotFound => Err(ReceiptError::Expired),
                };
            }
            self.wake(queue.id);
        }
        Ok(results)
    }

    /// Deletes every message of the queue. Returns how many.
    pub async fn purge(&self, queue: &QueueRecord) -> Result<u64, EngineError> {
        let cooldown_ms = config::PURGE_COOLDOWN_SECONDS * 1000;
        match self.store.purge_queue(queue.id, self.clock.now(), cooldown_ms).await.map_err(not_found_as_queue)? {
            PurgeOutcome::Purged { count } => Ok(count),
            PurgeOutcome::InProgress { .. } => Err(EngineError::PurgeInProgress),
        }
    }

    pub async fn counts(&self, queue: &QueueRecord) -> Result<QueueCounts, EngineError> {
        let config = QueueConfig::from_attributes(&queue.attributes);
        let retention_ms = config.message_retention_period * 1000;
        self.store.queue_counts(queue.id, self.clock.now(), retention_ms).await.map_err(not_found_as_queue)
    }

    /// Returns whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes once the engine stops.
    pub async fn stopped(&self) {
        loop {
            let stopped = self.stop.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            stopped.await;
        }
    }

    /// Completes once the server has been stopping for its grace period,
    /// measured in real time whatever the server clock.
    pub async fn stop_deadline(&self) {
        self.stopped().await;
        tokio::time::sleep(self.stop_grace).await;
    }

    /// Makes long polls in progress, and any that start later, return what
    /// they have at once, so that a stopping server is not held up by them.
    pub fn stop_long_polls(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.notify_waiters();
        self.move_tasks.cancel_all();
    }

    /// Deletes expired messages of every queue now and then once a minute of
    /// the server clock, until the server stops. On a shared database one
    /// node at a time sweeps, under a lease.
    pub async fn sweep_retention(self: Arc<Self>) {
        const INTERVAL_MS: u64 = 60_000;
        loop {
            let now = self.clock.now();
            match self.store.acquire_lease("retention-sweep", &self.node_id, now, now + 2 * INTERVAL_MS).await {
                Ok(true) => self.expire_all(now).await,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "taking the retention sweep lease failed"),
            }
            tokio::select! {
                () = self.clock.sleep_until(now + INTERVAL_MS) => {}
                () = self.stopped() => return,
            }
        }
    }

    async fn expire_all(&self, now: Timestamp) {
        let queues = match self.store.all_queues().await {
            Ok(queues) => queues,
            Err(error) => {
                tracing::warn!(%error, "listing queues for the retention sweep failed");
                return;
            }
        };
        for queue in queues {
            let retention_ms = QueueConfig::from_attributes(&queue.attributes).message_retention_period * 1000;
            match self.store.expire_messages(queue.id, now, retention_ms).await {
                Ok(0) | Err(StoreError::QueueNotFound(_)) => {}
                Ok(count) => tracing::debug!(queue = %crate::arn::queue_arn(&queue.key), count, "deleted expired messages"),
                Err(error) => tracing::warn!(%error, queue = %crate::arn::queue_arn(&queue.key), "deleting expired messages failed"),
            }
        }
    }

    /// Removes every resource and wakes every long poll.
    pub async fn reset(&self) -> Result<(), EngineError> {
        self.move_tasks.cancel_all();
        self.store.reset().await?;
        self.dead_letter_moves.lock().clear();
        self.deliveries.lock().clear();
        self.wake_and_drop_waiters();
        Ok(())
    }

    /// Wakes every long poll and drops the notifiers, whose queues may be
    /// gone. A poll whose queue still exists registers with a new one.
    fn wake_and_drop_waiters(&self) {
        for (_, notify) in self.waiters.lock().drain() {
            notify.notify_waiters();
        }
    }
}

fn not_found_as_queue(error: StoreError) -> EngineError {
    match error {
        StoreError::QueueNotFound(_) => EngineError::QueueNotFound,
        other => EngineError::Store(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postroom_store::embedded::EmbeddedStore;
    use std::time::Duration;

    #[tokio::test]
    async fn long_poll_survives_dropped_notifiers() {
        let engine = Arc::new(QueueEngine::new(Arc::new(EmbeddedStore::in_memory()), Clock::manual_at(1_000_000)));
        let key = QueueKey { account: "000000000000".into(), region: "us-east-1".into(), name: "jobs".into() };
        let CreateQueueOutcome::Created(queue) = engine.create_queue(key, BTreeMap::new(), BTreeMap::new()).await.expect("create") else {
            panic!("queue must be new");
        };
        let options = ReceiveOptions { max_messages: 10, visibility_timeout: None, wait_time_seconds: Some(20), attempt_id: None };
        let poll = tokio::spawn({
            let (engine, queue) = (engine.clone(), queue.clone());
            async move { engine.receive(&queue, options).await }
        });
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }

        // A reset drops the notifiers after the store's reset, when polls may
        // already wait on queues created since. They wake, find their queue
        // and must wait again on a notifier that sends still reach.
        engine.wake_and_drop_waiters();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(!poll.is_finished());
        let message = OutgoingMessage {
            body: "after the reset".into(),
            message_attributes: BTreeMap::new(),
            system_attributes: BTreeMap::new(),
            delay_seconds: None,
            sender_id: "000000000000".into(),
            message_group_id: None,
            message_deduplication_id: None,
        };
        engine.send(&queue, vec![message]).await.expect("send");

        // The manual clock does not move, so only the send can end the poll.
        let received = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("woken").expect("task").expect("receive");
        assert_eq!(received.len(), 1);
    }
}
