//! Records and outcomes exchanged with a [`crate::Store`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Milliseconds since the Unix epoch, on the server's clock.
pub type Timestamp = u64;

/// Identity of a queue as clients name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueKey {
    pub account: String,
    pub region: String,
    pub name: String,
}

/// Identity of one incarnation of a queue.
///
/// A queue deleted and created again under the same key gets a new id, so
/// that receipt handles of the old queue never act on the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueId(pub u64);

/// A queue with its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRecord {
    pub id: QueueId,
    pub key: QueueKey,
    /// Settable attributes by their AWS names, in canonical form. The queue
    /// engine fills in the defaults at creation.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub last_modified_at: Timestamp,
}

/// Input of [`crate::Store::create_queue`].
#[derive(Clone, Debug)]
pub struct CreateQueueRequest {
    pub key: QueueKey,
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub now: Timestamp,
    /// A queue of the same key deleted after this instant blocks creation.
    pub deleted_after: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CreateQueueOutcome {
    Created(QueueRecord),
    /// A live queue has this key already; nothing was changed.
    Exists(QueueRecord),
    /// A queue of this key was deleted at the given instant, within the
    /// window that blocks creation.
    DeletedRecently(Timestamp),
}

/// Value of one message attribute, as sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    /// `String`, `Number` or `Binary`, optionally followed by `.` and a
    /// custom type name.
    pub data_type: String,
    pub string_value: Option<String>,
    pub binary_value: Option<Vec<u8>>,
}

/// The parts of a message that never change after the send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContent {
    pub message_id: String,
    pub body: String,
    pub message_attributes: BTreeMap<String, AttributeValue>,
    /// System attributes given by the sender (`AWSTraceHeader`).
    pub system_attributes: BTreeMap<String, AttributeValue>,
    pub md5_of_body: String,
    pub md5_of_message_attributes: Option<String>,
    pub md5_of_message_system_attributes: Option<String>,
    pub sender_id: String,
    pub sent_at: Timestamp,
    /// Group of the message: required on FIFO queues, optional on standard
    /// ones, where it orders nothing.
    pub message_group_id: Option<String>,
    /// Deduplication id of a FIFO message: the one sent, or the SHA-256 of
    /// the body under content-based deduplication.
    pub message_deduplication_id: Option<String>,
    /// ARN of the queue that moved this message to its dead-letter queue.
    pub dead_letter_source_arn: Option<String>,
}

/// Input of [`crate::Store::send_messages`] for one message.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub content: Arc<MessageContent>,
    /// First instant at which the message may be received (the send time
    /// plus its delay).
    pub visible_at: Timestamp,
    /// Deduplication of a FIFO message: a message sent earlier with the same
    /// key, whose window has not ended, makes this one a duplicate.
    pub deduplication: Option<Deduplication>,
}

/// A deduplication key and the end of its window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deduplication {
    pub key: String,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Enqueued { seq: u64 },
    /// A message with the same deduplication key was accepted within the
    /// window; nothing was enqueued. Carries the original message.
    Duplicate { seq: u64, message_id: String },
}

impl SendOutcome {
    pub fn seq(&self) -> u64 {
        match self {
            SendOutcome::Enqueued { seq } | SendOutcome::Duplicate { seq, .. } => *seq,
        }
    }
}

/// Input of [`crate::Store::receive_messages`].
#[derive(Clone, Copy, Debug)]
pub struct ReceiveRequest<'a> {
    pub now: Timestamp,
    pub max_messages: usize,
    pub visibility_timeout_ms: u64,
    pub retention_ms: u64,
    /// Applies FIFO order: within a message group, messages come in the
    /// order sent, and no message of a group with a message in flight is
    /// returned.
    pub fifo: bool,
    /// Id of a receive attempt. A retry with the same id within
    /// `attempt_window_ms`, while none of its messages changed, returns the
    /// same messages with the same receipts and restarts their visibility
    /// timeout.
    pub attempt_id: Option<&'a str>,
    pub attempt_window_ms: u64,
    /// Dead-letter queue of the queue: a message that was already received
    /// `max_receive_count` times moves there instead of being returned.
    pub redrive: Option<&'a Redrive>,
}

/// The redrive policy of a queue, resolved to the dead-letter queue.
#[derive(Clone, Debug)]
pub struct Redrive {
    pub dead_letter_queue: QueueId,
    pub max_receive_count: u32,
    /// ARN of the source queue, stored on each moved message.
    pub source_arn: String,
    /// Restarts the retention period at the move, as FIFO queues do.
    /// Standard queues keep the original enqueue time.
    pub reset_enqueue_time: bool,
}

/// Input of [`crate::Store::move_messages`].
#[derive(Clone, Debug)]
pub struct MoveRequest {
    pub from: QueueId,
    pub to: QueueId,
    pub seqs: Vec<u64>,
    pub now: Timestamp,
}

/// A message that a move task may move, with the queue it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovableMessage {
    pub seq: u64,
    pub dead_letter_source_arn: Option<String>,
}

/// A message move task, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveTaskRecord {
    pub task_id: String,
    pub source_arn: String,
    pub source_queue: QueueId,
    pub destination_arn: Option<String>,
    pub max_messages_per_second: Option<u32>,
    /// `RUNNING`, `CANCELLING`, `CANCELLED`, `COMPLETED` or `FAILED`.
    pub status: String,
    pub moved: u64,
    pub to_move: u64,
    /// Only messages up to this sequence number, present when the task
    /// started, are moved.
    pub up_to_seq: u64,
    pub failure_reason: Option<String>,
    pub started_at: Timestamp,
}

/// Proof of one receive of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Receipt {
    pub seq: u64,
    pub nonce: u64,
}

/// A message as returned by one receive.
#[derive(Clone, Debug)]
pub struct ReceivedMessage {
    pub seq: u64,
    pub content: Arc<MessageContent>,
    pub receipt: Receipt,
    /// Receives so far, this one included.
    pub receive_count: u32,
    pub first_received_at: Timestamp,
}

#[derive(Clone, Debug, Default)]
pub struct ReceiveOutcome {
    pub messages: Vec<ReceivedMessage>,
    /// Earliest instant at which a message now delayed or in flight becomes
    /// receivable, when there is one. Long polls sleep until then.
    pub next_visible_at: Option<Timestamp>,
    /// Messages moved to the dead-letter queue by this receive.
    pub moved_to_dead_letter_queue: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// The message was received again since this receipt was issued, and
    /// stays in the queue.
    Stale,
    /// No such message: deleted before, expired or purged.
    NotFound,
    /// The receipt is the latest, but the visibility timeout has ended.
    NotInFlight,
}

/// Input of [`crate::Store::change_visibility`] for one message.
#[derive(Clone, Copy, Debug)]
pub struct VisibilityChange {
    pub receipt: Receipt,
    pub now: Timestamp,
    pub visibility_timeout_ms: u64,
    /// Upper bound on the time from the receive to the end of the new
    /// visibility timeout.
    pub max_total_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeVisibilityOutcome {
    Changed,
    /// The receipt is valid but the message is no longer in flight.
    NotInFlight,
    /// The new timeout would end more than `max_total_ms` after the receive.
    LimitExceeded,
    Stale,
    NotFound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurgeOutcome {
    Purged { count: u64 },
    /// A purge ran at the given instant, within the cooldown.
    InProgress { since: Timestamp },
}

/// Messages of a queue by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("queue {0:?} does not exist")]
    QueueNotFound(QueueId),
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("the store stopped accepting writes after an earlier I/O failure")]
    Poisoned,
    #[error("the data directory cannot be opened: {0}")]
    Open(String),
    /// The database could not be reached or failed the operation; a retry
    /// may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// Function a store calls when another node changed a queue so that a
/// message may have become receivable.
pub type ChangeListener = std::sync::Arc<dyn Fn(QueueId) + Send + Sync>;
