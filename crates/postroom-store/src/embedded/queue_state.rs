//! In-memory indexes of one queue's messages.
//!
//! A message is in exactly one of two indexes: `visible` (receivable now,
//! ordered by sequence number so that the oldest goes first) or `pending`
//! (delayed or in flight, ordered by the instant it becomes visible).
//! [`QueueState::promote`] moves messages whose instant has passed, so that
//! every operation reads the state at its `now` without scanning the queue.
//!
//! Messages with a group id are also indexed by group. `heads` lists the
//! first message of every group that has no message in flight, in sequence
//! order, which is where a FIFO receive looks for work.

use crate::{Deduplication, MessageContent, QueueCounts, Receipt, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    pub deduplication: Option<Deduplication>,
}

/// One claim of a message by a receive, as logged.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub seq: u64,
    pub nonce: u64,
    pub received_at: Timestamp,
    pub visible_at: Timestamp,
}

/// The original of a deduplicated message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeduplicationEntry {
    pub key: String,
    pub expires_at: Timestamp,
    pub seq: u64,
    pub message_id: String,
}

/// Messages returned by one receive attempt, with the state they had then.
#[derive(Debug)]
struct Attempt {
    started_at: Timestamp,
    claims: Vec<Claim>,
}

#[derive(Debug, Default)]
pub(crate) struct QueueState {
    messages: BTreeMap<u64, StoredMessage>,
    visible: BTreeSet<u64>,
    pending: BTreeSet<(Timestamp, u64)>,
    by_enqueue: BTreeSet<(Timestamp, u64)>,
    /// Pending messages that were received at least once.
    in_flight: u64,
    groups: HashMap<String, BTreeSet<u64>>,
    group_in_flight: HashMap<String, u64>,
    heads: BTreeSet<(u64, String)>,
    group_heads: HashMap<String, u64>,
    deduplication: HashMap<String, DeduplicationEntry>,
    deduplication_expiry: BTreeSet<(Timestamp, String)>,
    /// Recent receive attempts by id. They live in memory only: after a
    /// restart, a retried attempt receives anew.
    attempts: HashMap<String, Attempt>,
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
        if let Some(deduplication) = &message.deduplication {
            self.remember_deduplication(DeduplicationEntry {
                key: deduplication.key.clone(),
                expires_at: deduplication.expires_at,
                seq: message.seq,
                message_id: message.content.message_id.clone(),
            });
        }
        if let Some(group) = &message.content.message_group_id {
            self.groups.entry(group.clone()).or_default().insert(message.seq);
            if message.receive_count > 0 {
                *self.group_in_flight.entry(group.clone()).or_default() += 1;
            }
            self.refresh_group(group);
        }
        if message.receive_count > 0 {
            self.in_flight += 1;
        }
        self.by_enqueue.insert((message.enqueued_at, message.seq));
        self.messages.insert(message.seq, message);
    }

    pub fn remove(&mut self, seq: u64) -> Option<StoredMessage> {
        let message = self.messages.remove(&seq)?;
        self.by_enqueue.remove(&(message.enqueued_at, seq));
        let was_in_flight =
            !self.visible.remove(&seq) && self.pending.remove(&(message.visible_at, seq)) && message.receive_count > 0;
        if was_in_flight {
            self.in_flight -= 1;
        }
        if let Some(group) = &message.content.message_group_id {
            if let Some(members) = self.groups.get_mut(group) {
                members.remove(&seq);
            }
            if was_in_flight {
                self.leave_flight(group);
            }
            self.refresh_group(group);
        }
        Some(message)
    }

    fn leave_flight(&mut self, group: &str) {
        if let Some(count) = self.group_in_flight.get_mut(group) {
            *count -= 1;
            if *count == 0 {
                self.group_in_flight.remove(group);
            }
        }
    }

    /// Recomputes whether a group's first message is a head, and drops the
    /// group's indexes once it is empty.
    fn refresh_group(&mut self, group: &str) {
        if let Some(old) = self.group_heads.remove(group) {
            self.heads.remove(&(old, group.to_string()));
        }
        let first = self.groups.get(group).and_then(|members| members.first().copied());
        match first {
            None => {
                self.groups.remove(group);
            }
            Some(first) if !self.group_in_flight.contains_key(group) => {
                self.heads.insert((first, group.to_string()));
                self.group_heads.insert(group.to_string(), first);
            }
            Some(_) => {}
        }
    }

    /// Moves every pending message whose visibility instant has passed into
    /// the visible index.
    pub fn promote(&mut self, now: Timestamp) {
        while let Some(&(visible_at, seq)) = self.pending.first() {
            if visible_at > now {
                break;
            }
            self.pending.pop_first();
            let received_group = self
                .messages
                .get(&seq)
                .filter(|m| m.receive_count > 0)
                .map(|m| m.content.message_group_id.clone());
            if let Some(group) = received_group {
                self.in_flight -= 1;
                if let Some(group) = group {
                    self.leave_flight(&group);
                    self.refresh_group(&group);
                }
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

    /// Returns up to `max` receivable messages in FIFO order: groups by the
    /// age of their first message, and from each group the longest run of
    /// visible messages from its start.
    pub fn receivable_fifo(&self, max: usize) -> Vec<u64> {
        let mut selected = Vec::new();
        for (head, group) in &self.heads {
            if selected.len() >= max {
                break;
            }
            let Some(members) = self.groups.get(group) else { continue };
            for &seq in members.range(head..) {
                if selected.len() >= max || !self.visible.contains(&seq) {
                    break;
                }
                selected.push(seq);
            }
        }
        selected
    }

    fn remember_deduplication(&mut self, entry: DeduplicationEntry) {
        if let Some(old) = self.deduplication.remove(&entry.key) {
            self.deduplication_expiry.remove(&(old.expires_at, old.key));
        }
        self.deduplication_expiry.insert((entry.expires_at, entry.key.clone()));
        self.deduplication.insert(entry.key.clone(), entry);
    }

    /// Returns the original of a message with this deduplication key whose
    /// window is still open at `now`.
    pub fn find_duplicate(&mut self, key: &str, now: Timestamp) -> Option<&DeduplicationEntry> {
        while let Some((expires_at, _)) = self.deduplication_expiry.first() {
            if *expires_at > now {
                break;
            }
            if let Some((_, key)) = self.deduplication_expiry.pop_first() {
                self.deduplication.remove(&key);
            }
        }
        self.deduplication.get(key)
    }

    pub fn deduplication_entries(&self) -> impl Iterator<Item = &DeduplicationEntry> {
        self.deduplication.values()
    }

    pub fn restore_deduplication(&mut self, entry: DeduplicationEntry) {
        self.remember_deduplication(entry);
    }

    /// Returns the claims of an earlier attempt with this id when it is
    /// within the window and none of its messages changed since.
    pub fn repeatable_attempt(&mut self, id: &str, now: Timestamp, window_ms: u64) -> Option<Vec<Claim>> {
        self.attempts.retain(|_, attempt| attempt.started_at.saturating_add(window_ms) > now);
        let attempt = self.attempts.get(id).filter(|attempt| !attempt.claims.is_empty())?;
        let unchanged = attempt.claims.iter().all(|claim| {
            self.messages
                .get(&claim.seq)
                .is_some_and(|m| m.receipt_nonce == claim.nonce && m.visible_at == claim.visible_at && m.visible_at > now)
        });
        unchanged.then(|| attempt.claims.clone())
    }

    pub fn record_attempt(&mut self, id: &str, started_at: Timestamp, claims: Vec<Claim>) {
        self.attempts.insert(id.to_string(), Attempt { started_at, claims });
    }

    /// Returns up to `max` visible messages with sequence numbers up to
    /// `up_to_seq`, oldest first.
    pub fn movable(&self, up_to_seq: u64, max: usize) -> Vec<&StoredMessage> {
        self.visible.range(..=up_to_seq).take(max).filter_map(|seq| self.messages.get(seq)).collect()
    }

    pub fn is_visible(&self, seq: u64) -> bool {
        self.visible.contains(&seq)
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

    /// Deletes every message. Deduplication history stays, so a duplicate
    /// sent after a purge is still recognised within its window.
    pub fn clear(&mut self) -> u64 {
        let count = self.messages.len() as u64;
        self.messages.clear();
        self.visible.clear();
        self.pending.clear();
        self.by_enqueue.clear();
        self.in_flight = 0;
        self.groups.clear();
        self.group_in_flight.clear();
        self.heads.clear();
        self.group_heads.clear();
        self.attempts.clear();
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
                dead_letter_source_arn: None,
            }),
            enqueued_at,
            visible_at,
            receive_count: 0,
            first_received_at: None,
            received_at: None,
            receipt_nonce: 0,
            deduplication: None,
        }
    }

    fn grouped(seq: u64, group: &str) -> StoredMessage {
        let mut stored = message(seq, 0, 0);
        Arc::make_mut(&mut stored.content).message_group_id = Some(group.to_string());
        stored
    }

    #[test]
    fn fifo_groups_block_while_in_flight() {
        let mut state = QueueState::new();
        for (seq, group) in [(1, "a"), (2, "b"), (3, "a"), (4, "a"), (5, "b")] {
            state.insert(grouped(seq, group));
        }
        state.promote(0);
        assert_eq!(state.receivable_fifo(10), vec![1, 3, 4, 2, 5], "runs of each group, oldest group first");
        assert_eq!(state.receivable_fifo(2), vec![1, 3]);

        state.apply_claim(&Claim { seq: 1, nonce: 1, received_at: 0, visible_at: 100 });
        assert_eq!(state.receivable_fifo(10), vec![2, 5], "group a is locked");
        state.remove(3);
        assert_eq!(state.receivable_fifo(10), vec![2, 5]);

        state.promote(100);
        assert_eq!(state.receivable_fifo(10), vec![1, 4, 2, 5], "the expired message comes back first");
        state.remove(1);
        state.remove(4);
        assert_eq!(state.receivable_fifo(10), vec![2, 5]);
        assert!(!state.groups.contains_key("a"), "empty groups are dropped");
    }

    #[test]
    fn deduplication_window() {
        let mut state = QueueState::new();
        let mut first = message(1, 0, 0);
        first.deduplication = Some(Deduplication { key: "k".into(), expires_at: 300 });
        state.insert(first);
        assert_eq!(state.find_duplicate("k", 299).map(|entry| entry.seq), Some(1));
        state.clear();
        assert!(state.find_duplicate("k", 299).is_some(), "a purge keeps the history");
        assert!(state.find_duplicate("k", 300).is_none(), "the window has ended");
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
