//! The embedded backend: in-memory indexes over a write-ahead log.
//!
//! Every change is applied to the in-memory state and written to the log
//! while the lock that orders it is held, and the request completes once
//! the log has synced it. Message contents live in the log, not in memory:
//! the indexes point at them and receives read them back. Opening the store
//! replays the log, and a log generation that has grown well past the live
//! state is followed by a new one that starts with a snapshot.

mod log;
mod preallocation;
mod queue_state;

use crate::*;
use async_trait::async_trait;
use log::{Blob, Claim, DeduplicationEntry, Location, Log, LogRecord, SnapshotWriter, Ticket, NO_BLOBS};
use parking_lot::{Mutex, RwLock};
use queue_state::{Content, MessageMeta, QueueState, ReceiptCheck, StoredMessage};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Largest number of messages in one snapshot record.
const SNAPSHOT_CHUNK: usize = 1024;
/// When the log starts a new generation with a snapshot.
#[derive(Clone, Copy, Debug)]
struct CompactionPolicy {
    /// A new generation starts only once the current one exceeds this
    /// size. It starts then when at least half of the current generation
    /// is dead: more than twice the estimated snapshot plus the live
    /// contents in it.
    min_bytes: u64,
    /// Minimum growth of the current generation between two checks. A check
    /// counts the live bytes message by message, so the growth is also at
    /// least four snapshots, which keeps the counting to a few percent of
    /// the work of writing them.
    check_bytes: u64,
    /// A new generation also starts once the current one exceeds this size
    /// and twice the estimated snapshot, even with nothing dead, so that a
    /// restart replays a bounded log.
    replay_max_bytes: u64,
}

impl CompactionPolicy {
    const DEFAULT: Self =
        Self { min_bytes: 64 * 1024 * 1024, check_bytes: 16 * 1024 * 1024, replay_max_bytes: 1024 * 1024 * 1024 };

    /// Returns whether a current generation of `bytes` should give way to a
    /// new one, given the estimated `snapshot` bytes and the live
    /// `contents` in it.
    fn due(&self, bytes: u64, snapshot: u64, contents: u64) -> bool {
        let mostly_dead = bytes >= snapshot.saturating_add(contents).saturating_mul(2);
        let too_long = bytes >= self.replay_max_bytes && bytes >= snapshot.saturating_mul(2);
        bytes >= self.min_bytes && (mostly_dead || too_long)
    }

    /// Returns the size of the current generation at which to check next,
    /// after a check at which it was `bytes` with a `snapshot` estimate.
    fn next_check(&self, bytes: u64, snapshot: u64) -> u64 {
        let growth = self.check_bytes.max(snapshot.saturating_mul(4));
        bytes.max(self.min_bytes.saturating_sub(self.check_bytes)) + growth
    }
}

/// Estimate of the snapshot bytes of one message, contents excluded.
const SNAPSHOT_BYTES_PER_MESSAGE: u64 = 96;
/// Upper bound on the message contents that one new generation copies out
/// of older ones, so that a snapshot stays short.
const RELOCATION_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

struct QueueEntry {
    record: Mutex<Arc<QueueRecord>>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct Registry {
    ids: HashMap<QueueKey, QueueId>,
    queues: HashMap<QueueId, Arc<QueueEntry>>,
    /// Deletion instants of deleted queues, for the re-creation window.
    tombstones: HashMap<QueueKey, Timestamp>,
    next_queue_id: u64,
    move_tasks: BTreeMap<String, MoveTaskRecord>,
    /// Resource documents of other services by kind and key.
    resources: BTreeMap<(String, String), Arc<Vec<u8>>>,
}

/// Locks the states of two different queues in id order, so that two
/// operations that lock the same pair cannot deadlock.
fn lock_pair<'a>(
    first: (QueueId, &'a QueueEntry),
    second: (QueueId, &'a QueueEntry),
) -> (parking_lot::MutexGuard<'a, QueueState>, parking_lot::MutexGuard<'a, QueueState>) {
    if first.0 < second.0 {
        let a = first.1.state.lock();
        let b = second.1.state.lock();
        (a, b)
    } else {
        let b = second.1.state.lock();
        let a = first.1.state.lock();
        (a, b)
    }
}

/// Messages moved by [`EmbeddedStore::transfer`].
#[derive(Default)]
struct Transfer {
    /// Sequence numbers in the source queue.
    from: Vec<u64>,
    /// The inserted messages as logged.
    inserted: Vec<MessageMeta>,
    contents: Vec<Arc<MessageContent>>,
}

/// Queues and messages in memory, optionally backed by a log.
pub struct EmbeddedStore {
    registry: RwLock<Registry>,
    log: Option<Log>,
    data_dir: Option<PathBuf>,
    next_nonce: AtomicU64,
    /// When the log starts new generations. Tests use smaller sizes.
    policy: CompactionPolicy,
    /// Size of the current generation at which the compaction policy is
    /// checked next.
    next_compaction_check: AtomicU64,
    /// Set while one caller checks the policy or compacts.
    compacting: AtomicBool,
    /// Leases by name: holder and expiry. One process is the whole cluster
    /// here, so they need no persistence.
    leases: Mutex<HashMap<String, (String, Timestamp)>>,
}

impl EmbeddedStore {
    /// Creates a store that keeps nothing on disk.
    pub fn in_memory() -> Self {
        Self::with_log(None, None, Registry { next_queue_id: 1, ..Registry::default() })
    }

    /// Opens the store in `data_dir`, creating it when missing, and replays
    /// its log.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let mut registry = Registry { next_queue_id: 1, ..Registry::default() };
        let log = Log::open(data_dir, |record, blobs| registry.replay(record, &blobs))?;
        let store = Self::with_log(Some(log), Some(data_dir.to_path_buf()), registry);
        if let Some(log) = &store.log {
            log.retire(&store.registry.read().referenced_generations());
        }
        store.compact_if_needed();
        Ok(store)
    }

    fn with_log(log: Option<Log>, data_dir: Option<PathBuf>, registry: Registry) -> Self {
        Self {
            registry: RwLock::new(registry),
            log,
            data_dir,
            next_nonce: AtomicU64::new(random_seed()),
            policy: CompactionPolicy::DEFAULT,
            next_compaction_check: AtomicU64::new(CompactionPolicy::DEFAULT.min_bytes),
            compacting: AtomicBool::new(false),
            leases: Mutex::new(HashMap::new()),
        }
    }

    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Starts a new log generation with a snapshot when the current one is
    /// mostly dead, or too long to replay ([`CompactionPolicy`]). Every
    /// change that writes to the log calls it, and it returns at once until
    /// the current generation has grown enough since the last check.
    pub fn compact_if_needed(&self) {
        let Some(log) = &self.log else { return };
        if log.bytes() < self.next_compaction_check.load(Ordering::Relaxed) {
            return;
        }
        // One caller at a time, so that two sends finishing together do not
        // start two generations.
        if self.compacting.swap(true, Ordering::Acquire) {
            return;
        }
        let bytes = log.bytes();
        let (snapshot, current) = self.registry.read().live_bytes(log.generation());
        if self.policy.due(bytes, snapshot, current) {
            tracing::info!(
                log_bytes = bytes,
                snapshot_bytes = snapshot,
                live_content_bytes = current,
                "starting a new log generation"
            );
            if let Err(error) = self.compact(log) {
                tracing::error!(%error, "compacting the log failed");
            }
        }
        self.next_compaction_check.store(self.policy.next_check(log.bytes(), snapshot), Ordering::Relaxed);
        self.compacting.store(false, Ordering::Release);
    }

    /// Writes a snapshot into a new generation and deletes the generations
    /// that no live message points into any more. The write lock stops every
    /// change meanwhile, so the snapshot and the records after it are in
    /// order.
    fn compact(&self, log: &Log) -> Result<(), StoreError> {
        let registry = self.registry.write();
        let relocate = registry.relocation_candidates(log);
        let copies =
            log.start_generation(|writer| registry.snapshot(writer, &relocate, |location| log.read(location)))?;
        // Contents copied into the new generation are read from there now.
        for (queue, seq, location) in copies {
            if let Some(entry) = registry.queues.get(&queue) {
                entry.state.lock().set_content(seq, Content::Logged(location));
            }
        }
        log.retire(&registry.referenced_generations());
        Ok(())
    }

    /// Waits for a logged change to be durable, then checks the compaction
    /// policy.
    async fn settle(&self, ticket: Ticket) -> Result<(), StoreError> {
        ticket.wait().await?;
        self.compact_if_needed();
        Ok(())
    }

    /// Stops the log after it has synced everything written.
    pub fn close(&self) {
        if let Some(log) = &self.log {
            log.shutdown();
        }
    }

    /// Returns a ticket that completes once every earlier change is durable.
    fn barrier(&self) -> Ticket {
        match &self.log {
            Some(log) => log.barrier(),
            None => Ticket::Ready,
        }
    }

    fn append(&self, record: impl FnOnce() -> LogRecord) -> Ticket {
        match &self.log {
            Some(log) => log.append(&record(), NO_BLOBS).0,
            None => Ticket::Ready,
        }
    }

    /// Logs a record whose blobs are the `contents` of the messages `seqs`
    /// of `state`, and points those messages at their logged copies.
    fn append_contents(
        &self,
        state: &mut QueueState,
        record: impl FnOnce() -> LogRecord,
        seqs: impl IntoIterator<Item = u64>,
        contents: &[impl Blob],
    ) -> Ticket {
        let Some(log) = &self.log else {
            return Ticket::Ready;
        };
        let (ticket, locations) = log.append(&record(), contents);
        for (seq, location) in seqs.into_iter().zip(locations) {
            state.set_content(seq, Content::Logged(location));
        }
        ticket
    }

    /// Returns the content of a message, read from the log when it is not in
    /// memory.
    fn content(&self, content: &Content) -> Result<Arc<MessageContent>, StoreError> {
        match content {
            Content::Memory(content) => Ok(content.clone()),
            Content::Logged(location) => {
                let log = self
                    .log
                    .as_ref()
                    .ok_or_else(|| StoreError::Io("a message points into the log, but the store has no log".into()))?;
                read_content(log, *location)
            }
        }
    }

    /// Returns the contents of several messages, in order. Contents in the
    /// log are read together, which merges the reads of adjacent ones.
    fn contents(&self, contents: &[&Content]) -> Result<Vec<Arc<MessageContent>>, StoreError> {
        let locations: Vec<Location> = contents
            .iter()
            .filter_map(|content| match content {
                Content::Logged(location) => Some(*location),
                Content::Memory(_) => None,
            })
            .collect();
        let mut logged = Vec::with_capacity(locations.len());
        if !locations.is_empty() {
            let log = self
                .log
                .as_ref()
                .ok_or_else(|| StoreError::Io("a message points into the log, but the store has no log".into()))?;
            for (bytes, location) in log.read_many(&locations)?.into_iter().zip(&locations) {
                logged.push(decode_content(&bytes, *location)?);
            }
        }
        let mut logged = logged.into_iter();
        contents
            .iter()
            .map(|content| match content {
                Content::Memory(content) => Ok(content.clone()),
                Content::Logged(_) => {
                    logged.next().ok_or_else(|| StoreError::Io("a message content was not read back".into()))
                }
            })
            .collect()
    }

    /// Removes messages from one queue and inserts them into another, with
    /// new sequence numbers. `rewrite` adjusts each message and its content.
    /// Contents are read before anything changes, so that a failed read
    /// leaves both queues as they were.
    fn transfer(
        &self,
        from: &mut QueueState,
        to: &mut QueueState,
        seqs: &[u64],
        mut rewrite: impl FnMut(&mut StoredMessage, &mut MessageContent),
    ) -> Result<Transfer, StoreError> {
        let mut picked = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(message) = from.get(seq) {
                picked.push((seq, self.content(&message.content)?));
            }
        }
        let mut moved = Transfer::default();
        for (seq, content) in picked {
            let Some(mut message) = from.remove(seq) else {
                continue;
            };
            let mut content = (*content).clone();
            message.seq = to.next_seq;
            rewrite(&mut message, &mut content);
            let content = Arc::new(content);
            message.content = Content::Memory(content.clone());
            moved.inserted.push(message.meta(None));
            to.insert(message, None);
            moved.from.push(seq);
            moved.contents.push(content);
        }
        Ok(moved)
    }

    fn queue(&self, id: QueueId) -> Result<Arc<QueueEntry>, StoreError> {
        self.registry.read().queues.get(&id).cloned().ok_or(StoreError::QueueNotFound(id))
    }

    fn next_nonce(&self) -> u64 {
        // Nonces start at a random point so that receipts from an earlier
        // run of a store without a log do not match new receives.
        self.next_nonce.fetch_add(1, Ordering::Relaxed).max(1)
    }
}

fn read_content(log: &Log, location: Location) -> Result<Arc<MessageContent>, StoreError> {
    decode_content(&log.read(location)?, location)
}

fn decode_content(bytes: &[u8], location: Location) -> Result<Arc<MessageContent>, StoreError> {
    bincode::deserialize(bytes).map(Arc::new).map_err(|error| {
        StoreError::Io(format!(
            "the message content at offset {} of log generation {} cannot be decoded: {error}",
            location.offset, location.generation
        ))
    })
}

impl Registry {
    fn replay(&mut self, record: LogRecord, blobs: &[Location]) {
        match record {
            LogRecord::QueuePut(record) => {
                self.next_queue_id = self.next_queue_id.max(record.id.0 + 1);
                self.tombstones.remove(&record.key);
                if let Some(entry) = self.queues.get(&record.id) {
                    *entry.record.lock() = Arc::new(record);
                } else {
                    self.ids.insert(record.key.clone(), record.id);
                    self.queues.insert(
                        record.id,
                        Arc::new(QueueEntry {
                            record: Mutex::new(Arc::new(record)),
                            state: Mutex::new(QueueState::new()),
                        }),
                    );
                }
            }
            LogRecord::QueueDeleted { id, key, deleted_at } => {
                self.queues.remove(&id);
                self.ids.remove(&key);
                self.tombstones.insert(key, deleted_at);
            }
            LogRecord::MessagesPut { queue, messages } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    for (meta, location) in messages.into_iter().zip(blobs) {
                        let (message, deduplication) = StoredMessage::from_meta(meta, Content::Logged(*location));
                        state.insert(message, deduplication);
                    }
                }
            }
            LogRecord::MessagesRestored { queue, messages } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    for (meta, location) in messages {
                        let (message, deduplication) = StoredMessage::from_meta(meta, Content::Logged(location));
                        state.insert(message, deduplication);
                    }
                }
            }
            LogRecord::MessagesClaimed { queue, claims } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    for claim in &claims {
                        state.apply_claim(claim);
                    }
                }
            }
            LogRecord::VisibilityChanged { queue, seq, visible_at } => {
                if let Some(entry) = self.queues.get(&queue) {
                    entry.state.lock().apply_visibility(seq, visible_at);
                }
            }
            LogRecord::MessagesDeleted { queue, seqs } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    for seq in seqs {
                        state.remove(seq);
                    }
                }
            }
            LogRecord::QueuePurged { queue, at } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    state.clear();
                    state.last_purged_at = Some(at);
                }
            }
            LogRecord::MessagesMoved { from, to, seqs, messages } => {
                if let Some(source) = self.queues.get(&from) {
                    let mut state = source.state.lock();
                    for seq in seqs {
                        state.remove(seq);
                    }
                }
                if let Some(target) = self.queues.get(&to) {
                    let mut state = target.state.lock();
                    for (meta, location) in messages.into_iter().zip(blobs) {
                        let (message, _) = StoredMessage::from_meta(meta, Content::Logged(*location));
                        state.insert(message, None);
                    }
                }
            }
            LogRecord::MoveTaskPut(task) => {
                self.move_tasks.insert(task.task_id.clone(), task);
            }
            LogRecord::ResourcePut { kind, key, value } => {
                self.resources.insert((kind, key), Arc::new(value));
            }
            LogRecord::ResourceDeleted { kind, key } => {
                self.resources.remove(&(kind, key));
            }
            LogRecord::Deduplications { queue, entries } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    for deduplication in entries {
                        state.restore_deduplication(deduplication);
                    }
                }
            }
            LogRecord::Reset => {
                let next_queue_id = self.next_queue_id;
                // Replacing the registry drops the move tasks too.
                *self = Registry { next_queue_id, ..Registry::default() };
            }
            LogRecord::QueueSequence { queue, next_seq } => {
                if let Some(entry) = self.queues.get(&queue) {
                    let mut state = entry.state.lock();
                    state.next_seq = state.next_seq.max(next_seq);
                }
            }
            LogRecord::SnapshotEnd => {}
        }
    }

    /// Returns the estimated bytes of a snapshot, and the bytes of the
    /// live message contents that lie in generation `current`.
    fn live_bytes(&self, current: u32) -> (u64, u64) {
        let (mut messages, mut contents) = (0u64, 0u64);
        for entry in self.queues.values() {
            for message in entry.state.lock().messages() {
                messages += 1;
                contents += match &message.content {
                    Content::Logged(location) if location.generation == current => u64::from(location.len),
                    Content::Logged(_) => 0,
                    Content::Memory(content) => content.body.len() as u64,
                };
            }
        }
        (messages * SNAPSHOT_BYTES_PER_MESSAGE, contents)
    }

    /// Generations that hold the content of a live message.
    fn referenced_generations(&self) -> BTreeSet<u32> {
        let mut generations = BTreeSet::new();
        for entry in self.queues.values() {
            for message in entry.state.lock().messages() {
                if let Content::Logged(location) = &message.content {
                    generations.insert(location.generation);
                }
            }
        }
        generations
    }

    /// Returns the older generations that are mostly dead, whose live
    /// contents the next generation copies so that their files can go. The
    /// emptiest go first, within [`RELOCATION_BUDGET_BYTES`].
    fn relocation_candidates(&self, log: &Log) -> BTreeSet<u32> {
        let mut live: BTreeMap<u32, u64> = BTreeMap::new();
        for entry in self.queues.values() {
            for message in entry.state.lock().messages() {
                if let Content::Logged(location) = &message.content {
                    *live.entry(location.generation).or_default() += u64::from(location.len);
                }
            }
        }
        let mut candidates: Vec<(u64, u32)> = log
            .generations()
            .into_iter()
            .filter(|&(generation, size)| {
                let live = live.get(&generation).copied().unwrap_or(0);
                live > 0 && live.saturating_mul(2) < size
            })
            .map(|(generation, _)| (live[&generation], generation))
            .collect();
        candidates.sort_unstable();
        let mut budget = RELOCATION_BUDGET_BYTES;
        let mut chosen = BTreeSet::new();
        for (bytes, generation) in candidates {
            if bytes > budget {
                break;
            }
            budget -= bytes;
            chosen.insert(generation);
        }
        chosen
    }

    /// Writes the records that rebuild the current state from nothing.
    /// Messages whose content lies in a generation of `relocate`, or in
    /// memory, carry a copy of it; the others point at where it is. Returns
    /// the new places of the copies.
    fn snapshot(
        &self,
        writer: &mut SnapshotWriter,
        relocate: &BTreeSet<u32>,
        read: impl Fn(Location) -> Result<Vec<u8>, StoreError>,
    ) -> Result<Vec<(QueueId, u64, Location)>, StoreError> {
        let mut copies = Vec::new();
        for (key, deleted_at) in &self.tombstones {
            writer.push(
                &LogRecord::QueueDeleted { id: QueueId(0), key: key.clone(), deleted_at: *deleted_at },
                NO_BLOBS,
            )?;
        }
        for task in self.move_tasks.values() {
            writer.push(&LogRecord::MoveTaskPut(task.clone()), NO_BLOBS)?;
        }
        for ((kind, key), value) in &self.resources {
            writer.push(
                &LogRecord::ResourcePut { kind: kind.clone(), key: key.clone(), value: value.to_vec() },
                NO_BLOBS,
            )?;
        }
        let mut entries: Vec<_> = self.queues.values().collect();
        entries.sort_by_key(|entry| entry.record.lock().id);
        for entry in entries {
            let record = QueueRecord::clone(&entry.record.lock());
            let queue = record.id;
            writer.push(&LogRecord::QueuePut(record), NO_BLOBS)?;
            let state = entry.state.lock();
            // A purge record clears messages, so it goes before them.
            if let Some(at) = state.last_purged_at {
                writer.push(&LogRecord::QueuePurged { queue, at }, NO_BLOBS)?;
            }
            writer.push(&LogRecord::QueueSequence { queue, next_seq: state.next_seq }, NO_BLOBS)?;
            let mut restored = Vec::new();
            let mut copied = Vec::new();
            let mut blobs = Vec::new();
            let mut messages = state.messages().peekable();
            while let Some(message) = messages.next() {
                match &message.content {
                    Content::Logged(location) if !relocate.contains(&location.generation) => {
                        restored.push((message.meta(None), *location));
                    }
                    Content::Logged(location) => {
                        blobs.push(read(*location)?);
                        copied.push(message.meta(None));
                    }
                    Content::Memory(content) => {
                        let blob = bincode::serialize(&**content)
                            .map_err(|error| StoreError::Io(format!("encoding a message failed: {error}")))?;
                        blobs.push(blob);
                        copied.push(message.meta(None));
                    }
                }
                let last = messages.peek().is_none();
                if !restored.is_empty() && (restored.len() >= SNAPSHOT_CHUNK || last) {
                    let messages = std::mem::take(&mut restored);
                    writer.push(&LogRecord::MessagesRestored { queue, messages }, NO_BLOBS)?;
                }
                if !copied.is_empty() && (copied.len() >= SNAPSHOT_CHUNK || last) {
                    let seqs: Vec<u64> = copied.iter().map(|meta| meta.seq).collect();
                    let messages = std::mem::take(&mut copied);
                    let locations = writer.push(&LogRecord::MessagesPut { queue, messages }, &blobs)?;
                    blobs.clear();
                    copies.extend(seqs.into_iter().zip(locations).map(|(seq, location)| (queue, seq, location)));
                }
            }
            let entries: Vec<_> = state.deduplication_entries().cloned().collect();
            if !entries.is_empty() {
                writer.push(&LogRecord::Deduplications { queue, entries }, NO_BLOBS)?;
            }
        }
        Ok(copies)
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id() as u64);
    hasher.finish() >> 1
}

#[async_trait]
impl Store for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn is_durable(&self) -> bool {
        self.log.is_some()
    }

    async fn create_queue(&self, request: CreateQueueRequest) -> Result<CreateQueueOutcome, StoreError> {
        let ticket;
        let outcome;
        {
            let mut registry = self.registry.write();
            if let Some(id) = registry.ids.get(&request.key) {
                let record = QueueRecord::clone(&registry.queues[id].record.lock());
                return Ok(CreateQueueOutcome::Exists(record));
            }
            if let Some(&deleted_at) = registry.tombstones.get(&request.key) {
                if deleted_at > request.deleted_after {
                    return Ok(CreateQueueOutcome::DeletedRecently(deleted_at));
                }
            }
            let id = QueueId(registry.next_queue_id);
            let record = QueueRecord {
                id,
                key: request.key,
                attributes: request.attributes,
                tags: request.tags,
                created_at: request.now,
                last_modified_at: request.now,
            };
            registry.replay(LogRecord::QueuePut(record.clone()), &[]);
            ticket = self.append(|| LogRecord::QueuePut(record.clone()));
            outcome = CreateQueueOutcome::Created(record);
        }
        self.settle(ticket).await?;
        Ok(outcome)
    }

    async fn delete_queue(&self, key: &QueueKey, now: Timestamp) -> Result<Option<QueueRecord>, StoreError> {
        let ticket;
        let record;
        {
            let mut registry = self.registry.write();
            let Some(&id) = registry.ids.get(key) else {
                return Ok(None);
            };
            record = QueueRecord::clone(&registry.queues[&id].record.lock());
            let change = LogRecord::QueueDeleted { id, key: key.clone(), deleted_at: now };
            ticket = self.append(|| LogRecord::QueueDeleted { id, key: key.clone(), deleted_at: now });
            registry.replay(change, &[]);
        }
        self.settle(ticket).await?;
        Ok(Some(record))
    }

    async fn get_queue(&self, key: &QueueKey) -> Result<Option<Arc<QueueRecord>>, StoreError> {
        let registry = self.registry.read();
        Ok(registry.ids.get(key).map(|id| registry.queues[id].record.lock().clone()))
    }

    async fn list_queues(
        &self,
        account: &str,
        region: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<QueueRecord>, StoreError> {
        let registry = self.registry.read();
        let mut names: Vec<&QueueKey> = registry
            .ids
            .keys()
            .filter(|key| key.account == account && key.region == region && key.name.starts_with(prefix))
            .filter(|key| after.is_none_or(|after| key.name.as_str() > after))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .take(limit)
            .map(|key| QueueRecord::clone(&registry.queues[&registry.ids[key]].record.lock()))
            .collect())
    }

    async fn all_queues(&self) -> Result<Vec<QueueRecord>, StoreError> {
        let registry = self.registry.read();
        let mut records: Vec<QueueRecord> =
            registry.queues.values().map(|entry| QueueRecord::clone(&entry.record.lock())).collect();
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    async fn update_queue(&self, key: &QueueKey, update: QueueUpdate) -> Result<Option<QueueRecord>, StoreError> {
        let ticket;
        let record;
        {
            let registry = self.registry.read();
            let Some(id) = registry.ids.get(key) else {
                return Ok(None);
            };
            let mut current = registry.queues[id].record.lock();
            Arc::make_mut(&mut current).apply(update);
            record = QueueRecord::clone(&current);
            ticket = self.append(|| LogRecord::QueuePut(record.clone()));
        }
        self.settle(ticket).await?;
        Ok(Some(record))
    }

    async fn send_messages(&self, queue: QueueId, messages: Vec<NewMessage>) -> Result<Vec<SendOutcome>, StoreError> {
        let entry = self.queue(queue)?;
        let ticket;
        let mut outcomes = Vec::with_capacity(messages.len());
        let logging = self.log.is_some();
        // Encoded before the queue's lock is taken, which receives and
        // deletes of the queue wait for.
        let mut encoded = Vec::with_capacity(if logging { messages.len() } else { 0 });
        if logging {
            for message in &messages {
                encoded.push(log::encode_blob(&message.content)?);
            }
        }
        let mut encoded = encoded.into_iter();
        {
            let registry = self.registry.read();
            if !registry.queues.contains_key(&queue) {
                return Err(StoreError::QueueNotFound(queue));
            }
            let mut state = entry.state.lock();
            let mut metas = Vec::new();
            let mut contents = Vec::with_capacity(messages.len());
            for message in messages {
                let blob = encoded.next();
                if let Some(deduplication) = &message.deduplication {
                    if let Some(original) = state.find_duplicate(&deduplication.key, message.content.sent_at) {
                        outcomes.push(SendOutcome::Duplicate {
                            seq: original.seq,
                            message_id: original.message_id.clone(),
                        });
                        continue;
                    }
                }
                let seq = state.next_seq;
                let deduplication = message.deduplication.map(|deduplication| DeduplicationEntry {
                    key: deduplication.key,
                    expires_at: deduplication.expires_at,
                    seq,
                    message_id: message.content.message_id.clone(),
                });
                let stored = StoredMessage {
                    seq,
                    content: Content::Memory(message.content.clone()),
                    group: message.content.message_group_id.as_deref().map(Into::into),
                    enqueued_at: message.content.sent_at,
                    visible_at: message.visible_at,
                    receive_count: 0,
                    first_received_at: None,
                    received_at: None,
                    receipt_nonce: 0,
                };
                if logging {
                    metas.push(stored.meta(deduplication.clone()));
                }
                state.insert(stored, deduplication);
                // Without a log nothing was encoded, and the empty blobs
                // go unused.
                contents.push(blob.unwrap_or_default());
                outcomes.push(SendOutcome::Enqueued { seq });
            }
            // Duplicates only: the response relies on the originals, which
            // may still be on their way to disk.
            if contents.is_empty() {
                ticket = self.barrier();
            } else {
                let seqs: Vec<u64> = metas.iter().map(|meta| meta.seq).collect();
                let record = || LogRecord::MessagesPut { queue, messages: metas };
                ticket = self.append_contents(&mut state, record, seqs, &contents);
            }
        }
        self.settle(ticket).await?;
        Ok(outcomes)
    }

    async fn receive_messages(
        &self,
        queue: QueueId,
        request: ReceiveRequest<'_>,
    ) -> Result<ReceiveOutcome, StoreError> {
        let entry = self.queue(queue)?;
        let dead_letter = match request.redrive {
            Some(redrive) if redrive.dead_letter_queue != queue => {
                self.registry.read().queues.get(&redrive.dead_letter_queue).cloned().map(|target| (redrive, target))
            }
            _ => None,
        };
        let mut tickets = Vec::new();
        let mut outcome = ReceiveOutcome::default();
        {
            let _registry = self.registry.read();
            let (mut state, mut target) = match &dead_letter {
                Some((redrive, target)) => {
                    let (state, target) = lock_pair((queue, &entry), (redrive.dead_letter_queue, target));
                    (state, Some(target))
                }
                None => (entry.state.lock(), None),
            };
            state.promote(request.now);
            state.expire(request.now, request.retention_ms);
            let visible_at = request.now.saturating_add(request.visibility_timeout_ms);

            let repeated =
                request.attempt_id.and_then(|id| state.repeatable_attempt(id, request.now, request.attempt_window_ms));
            let claims = match repeated {
                Some(earlier) => {
                    // A retried attempt returns the same receipts and only
                    // restarts their visibility timeout.
                    let mut claims = Vec::with_capacity(earlier.len());
                    for claim in earlier {
                        state.apply_visibility(claim.seq, visible_at);
                        let seq = claim.seq;
                        tickets.push(self.append(|| LogRecord::VisibilityChanged { queue, seq, visible_at }));
                        claims.push(Claim { visible_at, ..claim });
                    }
                    claims
                }
                None => {
                    let mut claims = Vec::new();
                    // Each round moves the messages that used up their
                    // receives and claims the rest; moving frees room for
                    // more candidates, so a few rounds may be needed.
                    for _ in 0..16 {
                        let wanted = request.max_messages - claims.len();
                        let seqs = if request.fifo { state.receivable_fifo(wanted) } else { state.receivable(wanted) };
                        if seqs.is_empty() {
                            break;
                        }
                        let (exhausted, fresh): (Vec<u64>, Vec<u64>) = match (&dead_letter, target.as_mut()) {
                            (Some((redrive, _)), Some(_)) => seqs.into_iter().partition(|seq| {
                                state.get(*seq).is_some_and(|m| m.receive_count >= redrive.max_receive_count)
                            }),
                            _ => (Vec::new(), seqs),
                        };
                        if let (Some((redrive, _)), Some(target)) = (&dead_letter, target.as_mut()) {
                            if !exhausted.is_empty() {
                                let moved = self.transfer(&mut state, target, &exhausted, |message, content| {
                                    content.dead_letter_source_arn = Some(redrive.source_arn.clone());
                                    message.visible_at = request.now;
                                    message.receipt_nonce = 0;
                                    if redrive.reset_enqueue_time {
                                        message.enqueued_at = request.now;
                                    }
                                })?;
                                outcome.moved_to_dead_letter_queue += moved.from.len();
                                let to = redrive.dead_letter_queue;
                                let seqs: Vec<u64> = moved.inserted.iter().map(|meta| meta.seq).collect();
                                let record = || LogRecord::MessagesMoved {
                                    from: queue,
                                    to,
                                    seqs: moved.from,
                                    messages: moved.inserted,
                                };
                                tickets.push(self.append_contents(target, record, seqs, &moved.contents));
                            }
                        }
                        let round: Vec<Claim> = fresh
                            .into_iter()
                            .map(|seq| Claim { seq, nonce: self.next_nonce(), received_at: request.now, visible_at })
                            .collect();
                        for claim in &round {
                            state.apply_claim(claim);
                        }
                        claims.extend(round);
                        if claims.len() >= request.max_messages || exhausted.is_empty() {
                            break;
                        }
                    }
                    if !claims.is_empty() {
                        let logged = claims.clone();
                        tickets.push(self.append(|| LogRecord::MessagesClaimed { queue, claims: logged }));
                    }
                    claims
                }
            };
            // An attempt that received nothing is not repeated: a retry
            // receives anew.
            if let Some(id) = request.attempt_id.filter(|_| !claims.is_empty()) {
                state.record_attempt(id, request.now, claims.clone());
            }
            let mut received = Vec::with_capacity(claims.len());
            for claim in &claims {
                if let Some(message) = state.get(claim.seq) {
                    let first_received_at = message.first_received_at.unwrap_or(request.now);
                    received.push((claim, message.content.clone(), message.receive_count, first_received_at));
                }
            }
            // A zero visibility timeout leaves the messages receivable.
            state.promote(request.now);
            outcome.next_visible_at = state.next_visible_at();
            // Contents never change once written, and the registry lock
            // keeps a compaction from retiring their files, so the reads
            // need not block the queue.
            drop(state);
            drop(target);
            let places: Vec<&Content> = received.iter().map(|(_, content, _, _)| content).collect();
            let contents = self.contents(&places)?;
            for ((claim, _, receive_count, first_received_at), content) in received.into_iter().zip(contents) {
                outcome.messages.push(ReceivedMessage {
                    seq: claim.seq,
                    content,
                    receipt: Receipt { seq: claim.seq, nonce: claim.nonce },
                    receive_count,
                    first_received_at,
                });
            }
        }
        for ticket in tickets {
            self.settle(ticket).await?;
        }
        Ok(outcome)
    }

    async fn delete_messages(
        &self,
        queue: QueueId,
        receipts: &[Receipt],
        in_flight_at: Option<Timestamp>,
    ) -> Result<Vec<DeleteOutcome>, StoreError> {
        let entry = self.queue(queue)?;
        let ticket;
        let mut outcomes = Vec::with_capacity(receipts.len());
        {
            let _registry = self.registry.read();
            let mut state = entry.state.lock();
            if let Some(now) = in_flight_at {
                state.promote(now);
            }
            let mut seqs = Vec::new();
            for receipt in receipts {
                let outcome = match state.check_receipt(receipt) {
                    ReceiptCheck::NotFound => DeleteOutcome::NotFound,
                    ReceiptCheck::Stale => DeleteOutcome::Stale,
                    ReceiptCheck::Current(message) => match in_flight_at {
                        Some(now) if !state.is_in_flight(message, now) => DeleteOutcome::NotInFlight,
                        _ => DeleteOutcome::Deleted,
                    },
                };
                if outcome == DeleteOutcome::Deleted {
                    state.remove(receipt.seq);
                    seqs.push(receipt.seq);
                }
                outcomes.push(outcome);
            }
            // Nothing deleted: a success response for a message already
            // gone relies on the delete that removed it.
            if seqs.is_empty() {
                ticket = self.barrier();
            } else {
                ticket = self.append(|| LogRecord::MessagesDeleted { queue, seqs });
            }
        }
        self.settle(ticket).await?;
        Ok(outcomes)
    }

    async fn change_visibility(
        &self,
        queue: QueueId,
        changes: &[VisibilityChange],
    ) -> Result<Vec<ChangeVisibilityOutcome>, StoreError> {
        let entry = self.queue(queue)?;
        let mut tickets = Vec::new();
        let mut outcomes = Vec::with_capacity(changes.len());
        {
            let _registry = self.registry.read();
            let mut state = entry.state.lock();
            for change in changes {
                state.promote(change.now);
                let outcome = match state.check_receipt(&change.receipt) {
                    ReceiptCheck::NotFound => ChangeVisibilityOutcome::NotFound,
                    ReceiptCheck::Stale => ChangeVisibilityOutcome::Stale,
                    ReceiptCheck::Current(message) if !state.is_in_flight(message, change.now) => {
                        ChangeVisibilityOutcome::NotInFlight
                    }
                    ReceiptCheck::Current(message) => {
                        let received_at = message.received_at.unwrap_or(change.now);
                        let visible_at = change.now.saturating_add(change.visibility_timeout_ms);
                        if visible_at.saturating_sub(received_at) > change.max_total_ms {
                            ChangeVisibilityOutcome::LimitExceeded
                        } else {
                            let seq = change.receipt.seq;
                            state.apply_visibility(seq, visible_at);
                            tickets.push(self.append(|| LogRecord::VisibilityChanged { queue, seq, visible_at }));
                            ChangeVisibilityOutcome::Changed
                        }
                    }
                };
                outcomes.push(outcome);
            }
        }
        for ticket in tickets {
            self.settle(ticket).await?;
        }
        Ok(outcomes)
    }

    async fn purge_queue(&self, queue: QueueId, now: Timestamp, cooldown_ms: u64) -> Result<PurgeOutcome, StoreError> {
        let entry = self.queue(queue)?;
        let ticket;
        let count;
        {
            let _registry = self.registry.read();
            let mut state = entry.state.lock();
            if let Some(since) = state.last_purged_at {
                if now < since.saturating_add(cooldown_ms) {
                    return Ok(PurgeOutcome::InProgress { since });
                }
            }
            count = state.clear();
            state.last_purged_at = Some(now);
            ticket = self.append(|| LogRecord::QueuePurged { queue, at: now });
        }
        self.settle(ticket).await?;
        Ok(PurgeOutcome::Purged { count })
    }

    async fn expire_messages(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<u64, StoreError> {
        // Expiry is not logged: a replay brings expired messages back, and
        // the next access drops them again.
        let entry = self.queue(queue)?;
        let mut state = entry.state.lock();
        state.promote(now);
        Ok(state.expire(now, retention_ms) as u64)
    }

    async fn queue_counts(&self, queue: QueueId, now: Timestamp, retention_ms: u64) -> Result<QueueCounts, StoreError> {
        let entry = self.queue(queue)?;
        let mut state = entry.state.lock();
        state.promote(now);
        state.expire(now, retention_ms);
        Ok(state.counts())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock();
        match leases.get(name) {
            Some((current, until)) if current != holder && *until > now => Ok(false),
            _ => {
                leases.insert(name.to_string(), (holder.to_string(), expires_at));
                Ok(true)
            }
        }
    }

    async fn movable_messages(
        &self,
        queue: QueueId,
        now: Timestamp,
        up_to_seq: u64,
        max: usize,
    ) -> Result<Vec<MovableMessage>, StoreError> {
        let entry = self.queue(queue)?;
        // Reading a content can take the log's lock, which a compaction takes
        // before the queue states; the registry lock keeps the two apart.
        let _registry = self.registry.read();
        let mut state = entry.state.lock();
        state.promote(now);
        state
            .movable(up_to_seq, max)
            .into_iter()
            .map(|message| {
                let content = self.content(&message.content)?;
                Ok(MovableMessage { seq: message.seq, dead_letter_source_arn: content.dead_letter_source_arn.clone() })
            })
            .collect()
    }

    async fn move_messages(&self, request: MoveRequest) -> Result<usize, StoreError> {
        if request.from == request.to {
            return Ok(0);
        }
        let source = self.queue(request.from)?;
        let target = self.queue(request.to)?;
        let ticket;
        let count;
        {
            let _registry = self.registry.read();
            let (mut from, mut to) = lock_pair((request.from, &source), (request.to, &target));
            from.promote(request.now);
            let visible: Vec<u64> = request.seqs.iter().copied().filter(|seq| from.is_visible(*seq)).collect();
            let moved = self.transfer(&mut from, &mut to, &visible, |message, content| {
                content.dead_letter_source_arn = None;
                message.enqueued_at = request.now;
                message.visible_at = request.now;
                message.receive_count = 0;
                message.first_received_at = None;
                message.received_at = None;
                message.receipt_nonce = 0;
            })?;
            count = moved.from.len();
            if count == 0 {
                return Ok(0);
            }
            let (from_id, to_id) = (request.from, request.to);
            let seqs: Vec<u64> = moved.inserted.iter().map(|meta| meta.seq).collect();
            let record =
                || LogRecord::MessagesMoved { from: from_id, to: to_id, seqs: moved.from, messages: moved.inserted };
            ticket = self.append_contents(&mut to, record, seqs, &moved.contents);
        }
        self.settle(ticket).await?;
        Ok(count)
    }

    async fn last_seq(&self, queue: QueueId) -> Result<u64, StoreError> {
        let entry = self.queue(queue)?;
        let state = entry.state.lock();
        Ok(state.next_seq.saturating_sub(1))
    }

    async fn put_move_task(&self, task: MoveTaskRecord) -> Result<(), StoreError> {
        let ticket;
        {
            let mut registry = self.registry.write();
            ticket = self.append(|| LogRecord::MoveTaskPut(task.clone()));
            registry.replay(LogRecord::MoveTaskPut(task), &[]);
        }
        self.settle(ticket).await
    }

    async fn move_tasks(&self) -> Result<Vec<MoveTaskRecord>, StoreError> {
        Ok(self.registry.read().move_tasks.values().cloned().collect())
    }

    async fn create_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        let ticket;
        {
            let mut registry = self.registry.write();
            if registry.resources.contains_key(&(kind.to_string(), key.to_string())) {
                return Ok(false);
            }
            let logged = value.clone();
            ticket =
                self.append(|| LogRecord::ResourcePut { kind: kind.to_string(), key: key.to_string(), value: logged });
            registry.replay(LogRecord::ResourcePut { kind: kind.to_string(), key: key.to_string(), value }, &[]);
        }
        self.settle(ticket).await?;
        Ok(true)
    }

    async fn put_resource(&self, kind: &str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let ticket;
        {
            let mut registry = self.registry.write();
            let logged = value.clone();
            ticket =
                self.append(|| LogRecord::ResourcePut { kind: kind.to_string(), key: key.to_string(), value: logged });
            registry.replay(LogRecord::ResourcePut { kind: kind.to_string(), key: key.to_string(), value }, &[]);
        }
        self.settle(ticket).await
    }

    async fn get_resource(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let registry = self.registry.read();
        Ok(registry.resources.get(&(kind.to_string(), key.to_string())).map(|value| value.to_vec()))
    }

    async fn delete_resource(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let ticket;
        {
            let mut registry = self.registry.write();
            if !registry.resources.contains_key(&(kind.to_string(), key.to_string())) {
                return Ok(false);
            }
            ticket = self.append(|| LogRecord::ResourceDeleted { kind: kind.to_string(), key: key.to_string() });
            registry.replay(LogRecord::ResourceDeleted { kind: kind.to_string(), key: key.to_string() }, &[]);
        }
        self.settle(ticket).await?;
        Ok(true)
    }

    async fn list_resources(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let registry = self.registry.read();
        let start = (kind.to_string(), prefix.to_string());
        Ok(registry
            .resources
            .range(start..)
            .take_while(|((entry_kind, key), _)| entry_kind == kind && key.starts_with(prefix))
            .map(|((_, key), value)| (key.clone(), value.to_vec()))
            .collect())
    }

    async fn reset(&self) -> Result<(), StoreError> {
        let ticket;
        {
            let mut registry = self.registry.write();
            registry.replay(LogRecord::Reset, &[]);
            ticket = self.append(|| LogRecord::Reset);
        }
        self.settle(ticket).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        match &self.log {
            Some(log) => log.barrier().wait().await,
            None => Ok(()),
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance_in_memory() {
        crate::conformance::run_all(|| async { Arc::new(EmbeddedStore::in_memory()) as Arc<dyn Store> }).await;
    }

    #[tokio::test]
    async fn conformance_durable() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let base = directory.path().to_path_buf();
        crate::conformance::run_all(|| {
            let path = base.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
            async move { Arc::new(EmbeddedStore::open(&path).expect("open store")) as Arc<dyn Store> }
        })
        .await;
    }

    fn key(name: &str) -> QueueKey {
        QueueKey { account: "000000000000".into(), region: "us-east-1".into(), name: name.into() }
    }

    #[tokio::test]
    async fn reopen_restores_state() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (queue, receipt) = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(3, 0)).await.expect("send");
            let received =
                store.receive_messages(queue, crate::conformance::receive(10, 1, 1000)).await.expect("receive");
            let receipt = received.messages[0].receipt;
            let second =
                store.receive_messages(queue, crate::conformance::receive(10, 1, 1000)).await.expect("receive");
            store.delete_messages(queue, &[second.messages[0].receipt], None).await.expect("delete");
            (queue, receipt)
        };

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        let counts = store.queue_counts(queue, 10, u64::MAX).await.expect("counts");
        assert_eq!(counts, QueueCounts { visible: 1, in_flight: 1, delayed: 0 });
        let outcome = store.delete_messages(queue, &[receipt], None).await.expect("delete");
        assert_eq!(outcome, vec![DeleteOutcome::Deleted]);
    }

    const SOURCE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:orders";

    /// Creates `orders` and its dead-letter queue `orders-dlq`, sends
    /// `count` messages and receives them twice with a maximum receive
    /// count of 1, which moves them all. Returns both queues.
    async fn move_to_dead_letter_queue(store: &EmbeddedStore, count: usize) -> (QueueId, QueueId) {
        let source = crate::conformance::create(store, &key("orders")).await;
        let dead_letter = crate::conformance::create(store, &key("orders-dlq")).await;
        store.send_messages(source, crate::conformance::messages(count, 0)).await.expect("send");
        let redrive = Redrive {
            dead_letter_queue: dead_letter,
            max_receive_count: 1,
            source_arn: SOURCE_ARN.into(),
            reset_enqueue_time: false,
        };
        let request = |now| ReceiveRequest { redrive: Some(&redrive), ..crate::conformance::receive(now, 10, 10) };
        store.receive_messages(source, request(0)).await.expect("receive");
        let outcome = store.receive_messages(source, request(10)).await.expect("receive moves");
        assert_eq!(outcome.moved_to_dead_letter_queue, count);
        (source, dead_letter)
    }

    #[tokio::test]
    async fn reopen_restores_moves_and_tasks() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let (source, dead_letter, task) = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let (source, dead_letter) = move_to_dead_letter_queue(&store, 2).await;
            let task = MoveTaskRecord {
                task_id: "task-1".into(),
                source_arn: "arn:aws:sqs:us-east-1:000000000000:orders-dlq".into(),
                source_queue: dead_letter,
                destination_arn: None,
                max_messages_per_second: None,
                status: "RUNNING".into(),
                moved: 0,
                to_move: 2,
                up_to_seq: 2,
                failure_reason: None,
                started_at: 10,
            };
            store.put_move_task(task.clone()).await.expect("put task");
            (source, dead_letter, task)
        };

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        assert_eq!(store.queue_counts(source, 10, u64::MAX).await.expect("counts"), QueueCounts::default());
        assert_eq!(store.queue_counts(dead_letter, 10, u64::MAX).await.expect("counts").visible, 2);
        assert_eq!(store.move_tasks().await.expect("tasks"), [task]);
    }

    /// Returns the newest generation file of the log in `directory`.
    fn newest_generation(directory: &Path) -> PathBuf {
        let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
            .expect("read data directory")
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "wal"))
            .collect();
        files.sort();
        files.pop().expect("a log generation")
    }

    fn generation_count(directory: &Path) -> usize {
        std::fs::read_dir(directory)
            .expect("read data directory")
            .filter(|entry| entry.as_ref().expect("directory entry").path().extension().is_some_and(|e| e == "wal"))
            .count()
    }

    async fn bodies(store: &EmbeddedStore, queue: QueueId, now: Timestamp) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let outcome =
                store.receive_messages(queue, crate::conformance::receive(now, 10, 1000)).await.expect("receive");
            if outcome.messages.is_empty() {
                break;
            }
            bodies.extend(outcome.messages.iter().map(|message| message.content.body.clone()));
        }
        bodies.sort();
        bodies
    }

    #[tokio::test]
    async fn torn_tail_is_truncated() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let queue = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(2, 0)).await.expect("send");
            queue
        };
        let path = newest_generation(directory.path());
        let mut bytes = std::fs::read(&path).expect("read log");
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
        std::fs::write(&path, &bytes).expect("write log");

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        let counts = store.queue_counts(queue, 10, u64::MAX).await.expect("counts");
        assert_eq!(counts.visible, 2);
        store.send_messages(queue, crate::conformance::messages(1, 0)).await.expect("send after truncation");
        drop(store);
        let store = EmbeddedStore::open(directory.path()).expect("reopen store again");
        assert_eq!(store.queue_counts(queue, 10, u64::MAX).await.expect("counts").visible, 3);
    }

    #[tokio::test]
    async fn newer_format_is_rejected() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut header = b"PROOMLOG".to_vec();
        header.extend_from_slice(&(log::FORMAT_VERSION + 1).to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes());
        std::fs::write(directory.path().join("log-0000000001.wal"), header).expect("write log");
        let error = EmbeddedStore::open(directory.path()).err().expect("open must fail");
        assert!(error.to_string().contains("newer postroom"), "{error}");
    }

    #[tokio::test]
    async fn single_file_format_is_named() {
        let directory = tempfile::tempdir().expect("temporary directory");
        std::fs::write(directory.path().join("store.log"), b"PROOMLOG\x01\0\0\0").expect("write log");
        let error = EmbeddedStore::open(directory.path()).err().expect("open must fail");
        assert!(error.to_string().contains("format version 1"), "{error}");
    }

    #[tokio::test]
    async fn compaction_keeps_state_and_contents() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = EmbeddedStore::open(directory.path()).expect("open store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        store.send_messages(queue, crate::conformance::messages(5, 0)).await.expect("send");
        let received = store.receive_messages(queue, crate::conformance::receive(10, 2, 1000)).await.expect("receive");
        store.delete_messages(queue, &[received.messages[0].receipt], None).await.expect("delete");

        store.compact(store.log.as_ref().expect("durable store")).expect("compact");
        store.send_messages(queue, crate::conformance::messages(1, 20)).await.expect("send after compaction");
        drop(store);

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        let counts = store.queue_counts(queue, 10, u64::MAX).await.expect("counts");
        assert_eq!(counts, QueueCounts { visible: 3, in_flight: 1, delayed: 1 });
        let bodies = bodies(&store, queue, 2000).await;
        assert_eq!(bodies, ["body 0", "body 1", "body 2", "body 3", "body 4"].map(String::from));
    }

    #[test]
    fn compaction_waits_for_dead_bytes() {
        const MIB: u64 = 1024 * 1024;
        let policy = CompactionPolicy::DEFAULT;
        // (log bytes, snapshot estimate, live contents in it, due)
        let cases = [
            (32 * MIB, 0, 0, false),
            (100 * MIB, 10 * MIB, 110 * MIB, false),
            (100 * MIB, 2 * MIB, 28 * MIB, true),
            (100 * MIB, 2 * MIB, 48 * MIB, true),
            (1536 * MIB, 200 * MIB, 3000 * MIB, true),
            (1536 * MIB, 1000 * MIB, 3000 * MIB, false),
        ];
        for (bytes, snapshot, contents, due) in cases {
            assert_eq!(policy.due(bytes, snapshot, contents), due, "{bytes} bytes, snapshot {snapshot}, {contents}");
        }
        assert_eq!(policy.next_check(0, 0), 64 * MIB);
        assert_eq!(policy.next_check(100 * MIB, MIB), 116 * MIB);
        assert_eq!(policy.next_check(100 * MIB, 10 * MIB), 140 * MIB);
    }

    /// A policy that starts new generations after a few kilobytes.
    const SMALL_POLICY: CompactionPolicy =
        CompactionPolicy { min_bytes: 64 * 1024, check_bytes: 8 * 1024, replay_max_bytes: 1024 * 1024 };

    fn small_store(directory: &Path) -> EmbeddedStore {
        let mut store = EmbeddedStore::open(directory).expect("open store");
        store.policy = SMALL_POLICY;
        store.next_compaction_check.store(SMALL_POLICY.min_bytes, Ordering::Relaxed);
        store
    }

    #[tokio::test]
    async fn receives_alone_trigger_compaction() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = small_store(directory.path());
        let log = store.log.as_ref().expect("durable store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        store.send_messages(queue, crate::conformance::messages(10, 0)).await.expect("send");

        // Each receive with a zero visibility timeout logs claims and
        // leaves the messages receivable.
        let mut receives = 0;
        while log.generation() == 1 && receives < 2000 {
            let request = crate::conformance::receive(1000, 10, 0);
            store.receive_messages(queue, request).await.expect("receive");
            receives += 1;
        }
        assert_eq!(log.generation(), 2, "a new generation after {receives} receives");
        assert_eq!(generation_count(directory.path()), 1, "the live contents moved and the old file went");
        drop(store);

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        assert_eq!(bodies(&store, queue, 2000).await.len(), 10);
    }

    #[tokio::test]
    async fn check_compacts_once() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut store = small_store(directory.path());
        let log = store.log.as_ref().expect("durable store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        for _ in 0..600 {
            let sent = store.send_messages(queue, crate::conformance::messages(1, 0)).await.expect("send");
            let SendOutcome::Enqueued { seq } = sent[0] else { panic!("a new message") };
            let received =
                store.receive_messages(queue, crate::conformance::receive(1000, 1, 30_000)).await.expect("receive");
            assert_eq!(received.messages[0].seq, seq);
            store.delete_messages(queue, &[received.messages[0].receipt], None).await.expect("delete");
        }
        let generation = log.generation();
        assert!(generation > 1, "churn starts new generations");

        // A forced check leaves a generation below the minimum size alone,
        // and moves the next check past its size.
        store.next_compaction_check.store(0, Ordering::Relaxed);
        store.compact_if_needed();
        store.compact_if_needed();
        assert_eq!(log.generation(), generation, "a generation that is not due stays");
        assert!(store.next_compaction_check.load(Ordering::Relaxed) > log.bytes());

        // Without a minimum size, the dead generation is due: one check
        // starts a new one and moves the next check past its size.
        store.policy.min_bytes = 0;
        store.next_compaction_check.store(0, Ordering::Relaxed);
        let log = store.log.as_ref().expect("durable store");
        store.compact_if_needed();
        assert_eq!(log.generation(), generation + 1);
        assert!(store.next_compaction_check.load(Ordering::Relaxed) > log.bytes());
        store.compact_if_needed();
        assert_eq!(log.generation(), generation + 1, "a second check right after starts nothing");
    }

    #[tokio::test]
    async fn live_bytes_count_the_current_generation() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = EmbeddedStore::open(directory.path()).expect("open store");
        let log = store.log.as_ref().expect("durable store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        store.send_messages(queue, crate::conformance::messages(4, 0)).await.expect("send");
        let (snapshot, contents) = store.registry.read().live_bytes(log.generation());
        assert_eq!(snapshot, 4 * SNAPSHOT_BYTES_PER_MESSAGE);
        assert!(contents > 4 * "body 0".len() as u64, "the logged contents, {contents} bytes, include their bodies");

        store.compact(log).expect("compact");
        let (snapshot, contents) = store.registry.read().live_bytes(log.generation());
        assert_eq!(snapshot, 4 * SNAPSHOT_BYTES_PER_MESSAGE);
        assert_eq!(contents, 0, "the contents stay in the first generation");
    }

    #[tokio::test]
    async fn dead_generations_are_deleted_and_sparse_ones_copied() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = EmbeddedStore::open(directory.path()).expect("open store");
        let log = store.log.as_ref().expect("durable store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        store.send_messages(queue, crate::conformance::messages(10, 0)).await.expect("send");

        // Every message is live: the next generation points into this one.
        store.compact(log).expect("compact");
        assert_eq!(generation_count(directory.path()), 2);

        // Nine of ten are gone: the tenth is copied and the file deleted.
        let received = store.receive_messages(queue, crate::conformance::receive(1, 9, 1000)).await.expect("receive");
        let receipts: Vec<Receipt> = received.messages.iter().map(|message| message.receipt).collect();
        store.delete_messages(queue, &receipts, None).await.expect("delete");
        store.compact(log).expect("compact");
        assert_eq!(generation_count(directory.path()), 1, "only the newest generation is left");
        drop(store);

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        assert_eq!(bodies(&store, queue, 2000).await.len(), 1);
    }

    #[tokio::test]
    async fn partial_generation_is_removed() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let queue = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(3, 0)).await.expect("send");
            queue
        };
        // A generation cut short while its snapshot was written.
        let partial = directory.path().join("log-0000000002.wal.partial");
        std::fs::write(&partial, b"PROOMLOG").expect("write generation");

        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        assert!(!partial.exists(), "the partial generation is removed");
        assert_eq!(bodies(&store, queue, 10).await, ["body 0", "body 1", "body 2"].map(String::from));
    }

    #[tokio::test]
    async fn damaged_snapshot_stops_opening() {
        let directory = tempfile::tempdir().expect("temporary directory");
        {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(3, 0)).await.expect("send");
            store.compact(store.log.as_ref().expect("durable store")).expect("compact");
        }
        let path = newest_generation(directory.path());
        let mut bytes = std::fs::read(&path).expect("read log");
        bytes[30] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write log");

        let error = EmbeddedStore::open(directory.path()).err().expect("open must fail");
        assert!(error.to_string().contains("is damaged"), "{error}");
        assert!(path.exists(), "nothing is deleted");
    }

    #[tokio::test]
    async fn damaged_content_fails_its_read() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = EmbeddedStore::open(directory.path()).expect("open store");
        let queue = crate::conformance::create(&store, &key("orders")).await;
        store.send_messages(queue, crate::conformance::messages(1, 0)).await.expect("send");
        let path = newest_generation(directory.path());
        let mut bytes = std::fs::read(&path).expect("read log");
        let at = bytes.windows(6).position(|window| window == b"body 0").expect("body in the log");
        bytes[at] = b'B';
        std::fs::write(&path, &bytes).expect("write log");

        let error = store.receive_messages(queue, crate::conformance::receive(1, 10, 1000)).await.err();
        let error = error.expect("the receive must fail").to_string();
        assert!(error.contains("damaged"), "{error}");
    }

    #[tokio::test]
    async fn cut_tail_is_saved_aside() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let end = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(2, 0)).await.expect("send");
            store.log.as_ref().expect("durable store").bytes()
        };
        // A frame header and the start of its payload, over the zeros.
        let path = newest_generation(directory.path());
        let mut bytes = std::fs::read(&path).expect("read log");
        bytes[end as usize..end as usize + 10].copy_from_slice(&[40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
        std::fs::write(&path, &bytes).expect("write log");

        drop(EmbeddedStore::open(directory.path()).expect("reopen store"));
        let saved = PathBuf::from(format!("{}.damaged-{end}", path.display()));
        assert_eq!(std::fs::read(&saved).expect("saved tail"), [40, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
    }

    #[tokio::test]
    async fn empty_queue_keeps_its_sequence() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let queue = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let queue = crate::conformance::create(&store, &key("orders")).await;
            store.send_messages(queue, crate::conformance::messages(3, 0)).await.expect("send");
            store.purge_queue(queue, 1, 0).await.expect("purge");
            store.compact(store.log.as_ref().expect("durable store")).expect("compact");
            queue
        };
        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        let outcomes = store.send_messages(queue, crate::conformance::messages(1, 2)).await.expect("send");
        assert_eq!(outcomes, [SendOutcome::Enqueued { seq: 4 }]);
    }

    #[tokio::test]
    async fn dead_letter_moves_carry_contents() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let dead_letter = {
            let store = EmbeddedStore::open(directory.path()).expect("open store");
            let (_, dead_letter) = move_to_dead_letter_queue(&store, 1).await;
            store.compact(store.log.as_ref().expect("durable store")).expect("compact");
            dead_letter
        };
        let store = EmbeddedStore::open(directory.path()).expect("reopen store");
        let outcome =
            store.receive_messages(dead_letter, crate::conformance::receive(20, 10, 10)).await.expect("receive");
        assert_eq!(outcome.messages.len(), 1);
        let content = &outcome.messages[0].content;
        assert_eq!(content.body, "body 0");
        assert_eq!(content.dead_letter_source_arn.as_deref(), Some(SOURCE_ARN));
    }
}
