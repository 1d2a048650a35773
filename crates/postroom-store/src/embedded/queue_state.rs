//! In-memory indexes of one queue's messages.
//!
//! A message is in exactly one of two indexes: `visible` (receivable now,
//! ordered by sequence number so that the oldest goes first) or `pending`
//! (delayed or in flight, ordered by the instant it becomes visible).
//! [`QueueState::promote`] moves messages whose instant has passed, so that
//! every operation reads the state at its `now` without scanning the queue.

use crate::{MessageContent, QueueCounts, Receipt, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A message with its delivery state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredMessage {
    pub seq: u64,
    pub content: Arc<MessageContent>,
    /// Start of the retention period.
    pub enqueued_at: Timestamp,
    pub visible_at: Timestamp,
    pub receive_count: u32,
    pub first_received_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    /// Nonce of the latest receive; 0 before the first one.
    pub receipt_nonce: u64,
}

/// One claim of a message by a receive, as logged.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub seq: u64,
    pub nonce: u64,
    pub received_at: Timestamp,
    pub visible_at: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct QueueState {
    messages: BTreeMap<u64, StoredMessage>,
    visible: BTreeSet<u64>,
    pending: BTreeSet<(Timestamp, u64)>,
    by_enqueue: BTreeSet<(Timestamp, u64)>,
    /// Pending messages that were received at least once.
    in_flight: u64,
    pub next_seq: u64,
    pub last_purged_at: Option<Timestamp>,
}

impl QueueState {
    pub fn new() -> Self {
        Self { next_seq: 1, ..Self::default() }
    }

    pub fn messages(&self) -> impl Iterator<Item = &StoredMessage> {
        self.messages.values()
    }

    pub fn get(&self, seq: u64) -> Option<&StoredMessage> {
        self.messages.get(&seq)
    }

    /// Inserts a message, or replaces the one with the same sequence number.
    pub fn insert(&mut self, message: StoredMessage) {
        self.remove(message.seq);
        self.next_seq = self.next_seq.max(message.seq + 1);
        // A message that was never received is delayed, not in flight, until
        // it becomes visible; `promote` moves both kinds the same way.
        self.pending.insert((message.visible_at, message.seq));
        if message.receive_count > 0 {
            self.in_flight += 1;
        }
        self.by_enqueue.insert((message.enqueued_at, message.seq));
        self.messages.insert(message.seq, message);
    }

    pub fn remove(&mut self, seq: u64) -> Option<StoredMessage> {
        let message = self.messages.remove(&seq)?;
        self.by_enqueue.remove(&(message.enqueued_at, seq));
        if !self.visible.remove(&seq) && self.pending.remove(&(message.visible_at, seq)) && message.receive_count > 0 {
            self.in_flight -= 1;
        }
        Some(message)
    }

    /// Moves every pending message whose visibility instant has passed into
    /// the visible index.
    pub fn promote(&mut self, now: Timestamp) {
        while let Some(&(visible_at, seq)) = self.pending.first() {
            if visible_at > now {
                break;
            }
            self.pending.pop_first();
            if self.messages.get(&seq).is_some_and(|m| m.receive_count > 0) {
                self.in_flight -= 1;
            }
            self.visible.insert(seq);
        }
    }

    /// Drops messages older than the retention period. Returns how many.
    pub fn expire(&mut self, now: Timestamp, retention_ms: u64) -> usize {
        let mut dropped = 0;
        while let Some(&(enqueued_at, seq)) = self.by_enqueue.first() {
            if enqueued_at.saturating_add(retention_ms) > now {
                break;
            }
            self.remove(seq);
            dropped += 1;
        }
        dropped
    }

    /// Returns the sequence numbers of up to `max` receivable messages,
    /// oldest first, without changing anything.
    pub fn receivable(&self, max: usize) -> Vec<u64> {
        self.visible.iter().take(max).copied().collect()
    }

    pub fn next_visible_at(&self) -> Option<Timestamp> {
        self.pending.first().map(|&(visible_at, _)| visible_at)
    }

    /// Applies one receive to a message. Does nothing for a message that is
    /// gone, which happens when a log is replayed after the message expired.
    pub fn apply_claim(&mut self, claim: &Claim) {
        let Some(mut message) = self.remove(claim.seq) else {
            return;
        };
        message.receive_count += 1;
        message.first_received_at.get_or_insert(claim.received_at);
        message.received_at = Some(claim.received_at);
        message.receipt_nonce = claim.nonce;
        message.visible_at = claim.visible_at;
        self.insert(message);
    }

    pub fn apply_visibility(&mut self, seq: u64, visible_at: Timestamp) {
        let Some(mut message) = self.remove(seq) else {
            return;
        };
        message.visible_at = visible_at;
        self.insert(message);
    }

    /// Checks a receipt against the message it names.
    pub fn check_receipt(&self, receipt: &Receipt) -> ReceiptCheck<'_> {
        match self.messages.get(&receipt.seq) {
            None => ReceiptCheck::NotFound,
            Some(message) if message.receipt_nonce != receipt.nonce || receipt.nonce == 0 => ReceiptCheck::Stale,
            Some(message) => ReceiptCheck::Current(message),
        }
    }

    pub fn is_in_flight(&self, message: &StoredMessage, now: Timestamp) -> bool {
        message.receive_count > 0 && message.visible_at > now && !self.visible.contains(&message.seq)
    }

    pub fn clear(&mut self) -> u64 {
        let count = self.messages.len() as u64;
        self.messages.clear();
        self.visible.clear();
        self.pending.clear();
        self.by_enqueue.clear();
        self.in_flight = 0;
        count
    }

    /// Counts the messages by state. Call [`Self::promote`] first.
    pub fn counts(&self) -> QueueCounts {
        let pending = self.pending.len() as u64;
        QueueCounts {
            visible: self.visible.len() as u64,
            in_flight: self.in_flight,
            delayed: pending - self.in_flight,
        }
    }
}

pub(crate) enum ReceiptCheck<'a> {
    NotFound,
    Stale,
    Current(&'a StoredMessage),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, enqueued_at: Timestamp, visible_at: Timestamp) -> StoredMessage {
        StoredMessage {
            seq,
            content: Arc::new(MessageContent {
                message_id: format!("m{seq}"),
                body: "body".into(),
                message_attributes: BTreeMap::new(),
                system_attributes: BTreeMap::new(),
                md5_of_body: String::new(),
                md5_of_message_attributes: None,
                md5_of_message_system_attributes: None,
                sender_id: "sender".into(),
                sent_at: enqueued_at,
                message_group_id: None,
                message_deduplication_id: None,
                sequence_number: None,
            }),
            enqueued_at,
            visible_at,
            receive_count: 0,
            first_received_at: None,
            received_at: None,
            receipt_nonce: 0,
        }
    }

    #[test]
    fn counts_follow_promotion() {
        let mut state = QueueState::new();
        state.insert(message(1, 0, 0));
        state.insert(message(2, 0, 100));
        state.promote(50);
        assert_eq!(state.counts(), QueueCounts { visible: 1, in_flight: 0, delayed: 1 });

        state.apply_claim(&Claim { seq: 1, nonce: 7, received_at: 50, visible_at: 80 });
        state.promote(50);
        assert_eq!(state.counts(), QueueCounts { visible: 0, in_flight: 1, delayed: 1 });

        state.promote(100);
        assert_eq!(state.counts(), QueueCounts { visible: 2, in_flight: 0, delayed: 0 });
        assert_eq!(state.receivable(10), vec![1, 2]);
    }

    #[test]
    fn expire_drops_oldest_only() {
        let mut state = QueueState::new();
        state.insert(message(1, 10, 10));
        state.insert(message(2, 20, 20));
        state.promote(30);
        assert_eq!(state.expire(75, 60), 1);
        assert_eq!(state.receivable(10), vec![2]);
        assert_eq!(state.counts().visible, 1);
    }
}
