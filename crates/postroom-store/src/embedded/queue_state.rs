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

use super::log::{Claim, DeduplicationEntry, Location};
use crate::{MessageContent, QueueCounts, Receipt, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Storage place of the content of a message.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// In memory: the store has no log.
    Memory(Arc<MessageContent>),
    /// In the log, read back when a receive needs it.
    Logged(Location),
}

/// A message with its delivery state. The content stays out of memory in a
/// durable store, so that a backlog costs memory only for its indexes.
#[derive(Clone, Debug)]
pub(crate) struct StoredMessage {
    pub seq: u64,
    pub content: Content,
    /// Group of the message, which the FIFO indexes use.
    pub group: Option<Box<str>>,
    /// Start of the retention period.
    pub enqueued_at: Timestamp,
    pub visible_at: Timestamp,
    pub receive_count: u32,
    pub first_received_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    /// Nonce of the latest receive; 0 before the first one.
    pub receipt_nonce: u64,
}

/// The fields of a message as logged, without its content.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MessageMeta {
    pub seq: u64,
    pub group: Option<String>,
    pub enqueued_at: Timestamp,
    pub visible_at: Timestamp,
    pub receive_count: u32,
    pub first_received_at: Option<Timestamp>,
    pub received_at: Option<Timestamp>,
    pub receipt_nonce: u64,
    /// Deduplication entry that the message opened, for messages sent to a
    /// FIFO queue.
    pub deduplication: Option<DeduplicationEntry>,
}

impl StoredMessage {
    pub fn meta(&self, deduplication: Option<DeduplicationEntry>) -> MessageMeta {
        MessageMeta {
            seq: self.seq,
            group: self.group.as_deref().map(str::to_string),
            enqueued_at: self.enqueued_at,
            visible_at: self.visible_at,
            receive_count: self.receive_count,
            first_received_at: self.first_received_at,
            received_at: self.received_at,
            receipt_nonce: self.receipt_nonce,
            deduplication,
        }
    }

    pub fn from_meta(meta: MessageMeta, content: Content) -> (Self, Option<DeduplicationEntry>) {
        let message = Self {
            seq: meta.seq,
            content,
            group: meta.group.map(String::into_boxed_str),
            enqueued_at: meta.enqueued_at,
            visible_at: meta.visible_at,
            receive_count: meta.receive_count,
            first_received_at: meta.first_received_at,
            received_at: meta.received_at,
            receipt_nonce: meta.receipt_nonce,
        };
        (message, meta.deduplication)
    }
}

/// Messages returned by one receive attempt, with the state they had then.
#[derive(Debug)]
struct Attempt {
    started_at: Timestamp,
    claims: Vec<Claim>,
}

#[derive(Debug, Default)]
pub(crate) struct QueueState {
    /// Boxed, so that the tree's half-full nodes hold pointers rather than
    /// whole messages.
    messages: BTreeMap<u64, Box<StoredMessage>>,
    visible: BTreeSet<u64>,
    pending: BTreeSet<(Timestamp, u64)>,
    by_enqueue: BTreeSet<(Timestamp, u64)>,
    /// Pending messages that were received at least once.
    in_flight: u64,
    groups: HashMap<String, BTreeSet<u64>>,
    group_in_flight: HashMap<String, u64>,
    /// First message of each group that has none in flight, by its
    /// sequence number, with the group.
    heads: BTreeMap<u64, String>,
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
        self.messages.values().map(|message| &**message)
    }

    pub fn get(&self, seq: u64) -> Option<&StoredMessage> {
        self.messages.get(&seq).map(|message| &**message)
    }

    /// Points a message at another copy of its content.
    pub fn set_content(&mut self, seq: u64, content: Content) {
        if let Some(message) = self.messages.get_mut(&seq) {
            message.content = content;
        }
    }

    /// Inserts a message, or replaces the one with the same sequence number,
    /// and remembers the deduplication entry it opened.
    pub fn insert(&mut self, message: StoredMessage, deduplication: Option<DeduplicationEntry>) {
        self.remove(message.seq);
        self.next_seq = self.next_seq.max(message.seq + 1);
        // A message that was never received is delayed, not in flight, until
        // it becomes visible; `promote` moves both kinds the same way.
        self.pending.insert((message.visible_at, message.seq));
        if let Some(deduplication) = deduplication {
            self.remember_deduplication(deduplication);
        }
        if let Some(group) = &message.group {
            match self.groups.get_mut(&**group) {
                Some(members) => {
                    members.insert(message.seq);
                }
                None => {
                    self.groups.insert(group.to_string(), BTreeSet::from([message.seq]));
                }
            }
            if message.receive_count > 0 {
                match self.group_in_flight.get_mut(&**group) {
                    Some(count) => *count += 1,
                    None => {
                        self.group_in_flight.insert(group.to_string(), 1);
                    }
                }
            }
            self.refresh_group(group);
        }
        if message.receive_count > 0 {
            self.in_flight += 1;
        }
        self.by_enqueue.insert((message.enqueued_at, message.seq));
        self.messages.insert(message.seq, Box::new(message));
    }

    pub fn remove(&mut self, seq: u64) -> Option<StoredMessage> {
        let message = *self.messages.remove(&seq)?;
        self.by_enqueue.remove(&(message.enqueued_at, seq));
        let was_in_flight =
            !self.visible.remove(&seq) && self.pending.remove(&(message.visible_at, seq)) && message.receive_count > 0;
        if was_in_flight {
            self.in_flight -= 1;
        }
        if let Some(group) = &message.group {
            if let Some(members) = self.groups.get_mut(&**group) {
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
        let first = self.groups.get(group).and_then(|members| members.first().copied());
        let head = first.filter(|_| !self.group_in_flight.contains_key(group));
        let old = self.group_heads.get(group).copied();
        if old == head {
            return;
        }
        if let Some(old) = old {
            self.heads.remove(&old);
        }
        match head {
            Some(head) => {
                self.heads.insert(head, group.to_string());
                match self.group_heads.get_mut(group) {
                    Some(entry) => *entry = head,
                    None => {
                        self.group_heads.insert(group.to_string(), head);
                    }
                }
            }
            None => {
                self.group_heads.remove(group);
            }
        }
        if first.is_none() {
            self.groups.remove(group);
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
            let received_group = self.messages.get(&seq).filter(|m| m.receive_count > 0).map(|m| m.group.clone());
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
            let Some(members) = self.groups.get(group) else {
                continue;
            };
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
            self.messages.get(&claim.seq).is_some_and(|m| {
                m.receipt_nonce == claim.nonce && m.visible_at == claim.visible_at && m.visible_at > now
            })
        });
        unchanged.then(|| attempt.claims.clone())
    }

    pub fn record_attempt(&mut self, id: &str, started_at: Timestamp, claims: Vec<Claim>) {
        self.attempts.insert(id.to_string(), Attempt { started_at, claims });
    }

    /// Returns up to `max` visible messages with sequence numbers up to
    /// `up_to_seq`, oldest first.
    pub fn movable(&self, up_to_seq: u64, max: usize) -> Vec<&StoredMessage> {
        self.visible.range(..=up_to_seq).take(max).filter_map(|seq| self.get(*seq)).collect()
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
        self.insert(message, None);
    }

    pub fn apply_visibility(&mut self, seq: u64, visible_at: Timestamp) {
        let Some(mut message) = self.remove(seq) else {
            return;
        };
        message.visible_at = visible_at;
        self.insert(message, None);
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
        QueueCounts { visible: self.visible.len() as u64, in_flight: self.in_flight, delayed: pending - self.in_flight }
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
            content: Content::Logged(Location { generation: 1, len: 4, offset: 16 }),
            group: None,
            enqueued_at,
            visible_at,
            receive_count: 0,
            first_received_at: None,
            received_at: None,
            receipt_nonce: 0,
        }
    }

    fn grouped(seq: u64, group: &str) -> StoredMessage {
        StoredMessage { group: Some(group.into()), ..message(seq, 0, 0) }
    }

    #[test]
    fn fifo_groups_block_while_in_flight() {
        let mut state = QueueState::new();
        for (seq, group) in [(1, "a"), (2, "b"), (3, "a"), (4, "a"), (5, "b")] {
            state.insert(grouped(seq, group), None);
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
        let entry = DeduplicationEntry { key: "k".into(), expires_at: 300, seq: 1, message_id: "m1".into() };
        state.insert(message(1, 0, 0), Some(entry));
        assert_eq!(state.find_duplicate("k", 299).map(|entry| entry.seq), Some(1));
        state.clear();
        assert!(state.find_duplicate("k", 299).is_some(), "a purge keeps the history");
        assert!(state.find_duplicate("k", 300).is_none(), "the window has ended");
    }

    #[test]
    fn counts_follow_promotion() {
        let mut state = QueueState::new();
        state.insert(message(1, 0, 0), None);
        state.insert(message(2, 0, 100), None);
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
        state.insert(message(1, 10, 10), None);
        state.insert(message(2, 20, 20), None);
        state.promote(30);
        assert_eq!(state.expire(75, 60), 1);
        assert_eq!(state.receivable(10), vec![2]);
        assert_eq!(state.counts().visible, 1);
    }
}
