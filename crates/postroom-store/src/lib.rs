//! Durable state of Postroom.
//!
//! Everything that must survive a restart goes through the [`Store`] trait:
//! queue records, their tags and attributes, and the messages with their
//! delivery state. The trait is narrow and speaks in records, not in wire
//! types, so that each backend can keep its own layout:
//!
//! - [`embedded::EmbeddedStore`], the default: in-memory indexes rebuilt from a
//!   write-ahead log in one data directory, with group commit so that
//!   concurrent requests share one `fdatasync`. It also runs with no log at
//!   all (`--in-memory`).
//! - [`postgres::PostgresStore`]: tables in a PostgreSQL database that
//!   several stateless nodes share.
//!
//! The queue engine decides the rules (timeouts, limits, receipt handle
//! encoding); a store applies each change atomically and durably.
//! [`conformance`] contains the checks that every backend must pass.

pub mod conformance;
pub mod embedded;
pub mod postgres;
mod types;

pub use types::*;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A backend that keeps queues and their messages.
///
/// Every method that returns `Ok` has applied its change durably: for a
/// persistent backend the change is on stable storage before the future
/// completes. Methods take `now` from the caller so that all time-based
/// rules follow one clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name of the backend, as shown by the health endpoint.
    fn kind(&self) -> &'static str;

    /// Returns whether changes outlive the process.
    fn is_durable(&self) -> bool;

    /// Registers the function to call when another node changed a queue.
    /// A store whose changes all pass through this process never calls it.
    fn set_change_listener(&self, _listener: ChangeListener) {}

    /// Maximum time a long poll may sleep without a wake-up before it looks
    /// again, for stores that can miss a change made elsewhere.
    fn poll_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// Takes or renews the lease `name` for `holder` until `expires_at`,
    /// unless another holder's lease is still valid at `now`. Work that must
    /// run once per cluster runs under a lease.
    async fn acquire_lease(&self, name: &str, holder: &str, now: Timestamp, expires_at: Timestamp) -> Result<bool, StoreError>;

    /// Creates a queue, or returns the live queue of the same key.
    ///
    /// A queue deleted after `deleted_after` blocks the creation
    /// ([`CreateQueueOutcome::DeletedRecently`]).
    async fn create_queue(
        &self,
        request: CreateQueueRequest,
    ) -> Result<CreateQueueOutcome, StoreError>;

    /// Deletes a queue with all its messages. Returns the deleted record.
    async fn delete_queue(
        &self,
        key: &QueueKey,
        now: Timestamp,
    ) -> Result<Option<QueueRecord>, StoreError>;

    /// Returns the queue's record, shared with the store's copy where it
    /// keeps one in memory.
    async fn get_queue(&self, key: &QueueKey) -> Result<Option<Arc<QueueRecord>>, StoreError>;

    /// Lists the queues of one account and region whose names start with
    /// `prefix` and sort after `after`, in name order, at most `limit`.
    async fn list_queues(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, StoreError>;

    /// Lists every live queue of every account and region.
    async fn all_queues(&self) -> Result<Vec<QueueRecord>, StoreError>;

    /// Applies attribute and tag changes to a queue and returns the result.
    async fn update_queue(
        &self,
        key: &QueueKey,
        update: QueueUpdate,
    ) -> Result<Option<QueueRecord>, StoreError>;

    /// Appends messages to a queue and returns, in the order given, their
    /// sequence numbers or the original of each duplicate.
    async fn send_messages(
        &self,
        queue: QueueId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<SendOutcome>, StoreError>;

    /// Claims up to `max_messages` receivable messages, oldest first, and
    /// makes them invisible until `now + visibility_timeout_ms`.
    ///
    /// A message is receivable when its `visible_at` has passed and it is
    /// younger than the retention period. Each claimed message gets a new
    /// receipt nonce and one more receive.
    async fn receive_messages(
        &self,
        queue: QueueId,
        request: ReceiveRequest<'_>,
    ) -> Result<ReceiveOutcome, StoreError>;

    /// Deletes messages by receipt, one outcome per receipt. With
    /// `in_flight_at`, a message whose visibility timeout ended by then is
    /// not deleted ([`DeleteOutcome::NotInFlight`]), as FIFO queues require.
    async fn delete_messages(
        &self,
        queue: QueueId,
        receipts: &[Receipt],
        in_flight_at: Option<Timestamp>,
    ) -> Result<Vec<DeleteOutcome>, StoreError>;

    /// Changes the visibility of received messages, one outcome per change.
    async fn change_visibility(
        &self,
        queue: QueueId,
        changes: &[VisibilityChange],
    ) -> Result<Vec<ChangeVisibilityOutcome>, StoreError>;

    /// Deletes every message of a queue, unless a purge ran within the
    /// cooldown.
    async fn purge_queue(
        &self,
        queue: QueueId,
        now: Timestamp,
        cooldown_ms: u64,
    ) -> Result<PurgeOutcome, StoreError>;

    /// Deletes the messages of a queue that are older than the retention
    /// period at `now`. Returns how many.
    async fn expire_messages(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<u64, StoreError>;

    /// Counts the messages of a queue by state at `now`.
    async fn queue_counts(
        &self,
        queue: QueueId,
        now: Timestamp,
        retention_ms: u64,
    ) -> Result<QueueCounts, StoreError>;

    /// Lists up to `max` visible messages with sequence numbers up to
    /// `up_to_seq`, oldest first, for a move task.
    async fn movable_messages(
        &self,
        queue: QueueId,
        now: Timestamp,
        up_to_seq: u64,
        max: usize,
    ) -> Result<Vec<MovableMessage>, StoreError>;

    /// Moves messages that are still visible to another queue in one atomic
    /// step. Moved messages start over with no receives, a new enqueue time
    /// and no dead-letter source. Returns how many moved.
    async fn move_messages(&self, request: MoveRequest) -> Result<usize, StoreError>;

    /// Highest sequence number assigned in a queue so far.
    async fn last_seq(&self, queue: QueueId) -> Result<u64, StoreError>;

    /// Creates or replaces a message move task.
    async fn put_move_task(&self, task: MoveTaskRecord) -> Result<(), StoreError>;

    /// Lists every stored move task.
    async fn move_tasks(&self) -> Result<Vec<MoveTaskRecord>, StoreError>;

    /// Creates a resource document of another service (an event bus, a rule)
    /// unless one exists under the key. Returns whether it was created.
    async fn create_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<bool, StoreError>;

    /// Creates or replaces a resource document.
    async fn put_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError>;

    async fn get_resource(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes a resource document. Returns whether it existed.
    async fn delete_resource(&self, kind: &str, key: &str) -> Result<bool, StoreError>;

    /// Lists the documents of a kind whose keys start with `prefix`, in
    /// byte order of their keys.
    async fn list_resources(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Removes every resource of every account.
    async fn reset(&self) -> Result<(), StoreError>;

    /// Waits until everything acknowledged so far is on stable storage.
    async fn flush(&self) -> Result<(), StoreError>;
}

/// Attribute and tag changes applied by [`Store::update_queue`].
#[derive(Clone, Debug, Default)]
pub struct QueueUpdate {
    pub set_attributes: BTreeMap<String, String>,
    pub remove_attributes: Vec<String>,
    pub set_tags: BTreeMap<String, String>,
    pub remove_tags: Vec<String>,
    /// Moves `LastModifiedTimestamp` when attributes change.
    pub now: Timestamp,
}

impl QueueRecord {
    /// Applies attribute and tag changes. Attribute changes move
    /// `last_modified_at`; tag changes do not.
    pub fn apply(&mut self, update: QueueUpdate) {
        let attributes_changed = !update.set_attributes.is_empty() || !update.remove_attributes.is_empty();
        self.attributes.extend(update.set_attributes);
        for name in &update.remove_attributes {
            self.attributes.remove(name);
        }
        self.tags.extend(update.set_tags);
        for tag in &update.remove_tags {
            self.tags.remove(tag);
        }
        if attributes_changed {
            self.last_modified_at = update.now;
        }
    }
}
