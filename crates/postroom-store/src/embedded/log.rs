//! The write-ahead log of the embedded store.
//!
//! The log is a series of generation files, `log-NNNNNNNNNN.wal`. Each one
//! starts with a 16-byte header (an 8-byte magic, a little-endian `u32`
//! format version and the `u32` generation), then a snapshot of the whole
//! state closed by [`LogRecord::SnapshotEnd`], then the changes made after
//! it. Opening the store replays the newest generation whose snapshot is
//! complete; older generations are kept only while live messages point into
//! them.
//!
//! A new generation is written as `log-NNNNNNNNNN.wal.partial` and renamed
//! once it is durable, so a `.wal` file always has a whole snapshot, and a
//! damaged one stops the store from opening instead of being taken for a
//! write cut short.
//!
//! A frame is a little-endian `u32` payload length, a `u32` CRC-32 of the
//! payload, and the payload: a `u32` blob count, a `u32` record length, one
//! `u32` length per blob, the bincode-encoded [`LogRecord`], then the blobs.
//! Blobs hold message contents, which the store reads back by position
//! ([`Location`]) instead of keeping them in memory. Each blob starts with
//! a `u32` CRC-32 of the rest, checked on every read. A torn or corrupt frame
//! ends the log: replay stops there, as it must after a write cut short, and
//! the file is truncated to the last whole frame. Bytes that were cut off
//! and are not preallocation zeros are first saved beside the log.
//!
//! Writers append frames with positioned writes while they hold the lock
//! that orders their change, so a blob can be read back as soon as its
//! frame is written. One sync thread then makes everything written so far
//! durable with one `fdatasync` for all requests that queued up while the
//! previous one ran (group commit), and completes their tickets.

use super::queue_state::MessageMeta;
use crate::{MoveTaskRecord, QueueId, QueueKey, QueueRecord, StoreError, Timestamp};
use parking_lot::{Condvar, Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

const MAGIC: &[u8; 8] = b"PROOMLOG";
/// Version of the file layout and record encoding. A binary that meets a
/// newer version refuses to open the store.
pub(crate) const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: u64 = 16;
/// Zeros written ahead of the appends. Appends then overwrite blocks that
/// are already allocated, so `fdatasync` flushes data only and skips the
/// inode. On the disk of docs/benchmarks.md, that took about half the time
/// of a sync that extends the file.
const PREALLOCATION_BYTES: u64 = 2 * 1024 * 1024;
/// Upper bound on one frame, far above the largest valid request.
const MAX_FRAME_LEN: u32 = 256 * 1024 * 1024;
/// Name of the single log file of format version 1.
const VERSION_1_FILE: &str = "store.log";

/// Position of a blob in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Location {
    pub generation: u32,
    pub len: u32,
    pub offset: u64,
}

/// One change to the store. Replaying the records of a generation in order
/// rebuilds the state that was acknowledged.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum LogRecord {
    /// A queue was created, or its attributes or tags changed.
    QueuePut(QueueRecord),
    QueueDeleted {
        id: QueueId,
        key: QueueKey,
        deleted_at: Timestamp,
    },
    /// Messages were sent. Their contents are the frame's blobs, in order.
    MessagesPut {
        queue: QueueId,
        messages: Vec<MessageMeta>,
    },
    MessagesClaimed {
        queue: QueueId,
        claims: Vec<Claim>,
    },
    VisibilityChanged {
        queue: QueueId,
        seq: u64,
        visible_at: Timestamp,
    },
    MessagesDeleted {
        queue: QueueId,
        seqs: Vec<u64>,
    },
    QueuePurged {
        queue: QueueId,
        at: Timestamp,
    },
    /// Messages left one queue for another in one step: to a dead-letter
    /// queue on receive, or by a move task. The contents of the inserted
    /// messages are the frame's blobs, in order.
    MessagesMoved {
        from: QueueId,
        to: QueueId,
        seqs: Vec<u64>,
        messages: Vec<MessageMeta>,
    },
    /// Messages of a snapshot whose contents stay where an earlier
    /// generation wrote them.
    MessagesRestored {
        queue: QueueId,
        messages: Vec<(MessageMeta, Location)>,
    },
    MoveTaskPut(MoveTaskRecord),
    /// A resource document of another service was created or replaced.
    ResourcePut {
        kind: String,
        key: String,
        value: Vec<u8>,
    },
    ResourceDeleted {
        kind: String,
        key: String,
    },
    /// Deduplication history restored by a snapshot.
    Deduplications {
        queue: QueueId,
        entries: Vec<DeduplicationEntry>,
    },
    /// Every resource was removed.
    Reset,
    /// The snapshot at the start of this generation is complete.
    SnapshotEnd,
    /// Next sequence number of a queue, which a snapshot keeps even when
    /// the queue is empty.
    QueueSequence {
        queue: QueueId,
        next_seq: u64,
    },
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

/// Completion of one appended record.
pub(crate) enum Ticket {
    Ready,
    Pending(oneshot::Receiver<Result<(), StoreError>>),
    Failed(StoreError),
}

impl Ticket {
    pub async fn wait(self) -> Result<(), StoreError> {
        match self {
            Ticket::Ready => Ok(()),
            Ticket::Failed(error) => Err(error),
            Ticket::Pending(receiver) => receiver.await.unwrap_or(Err(StoreError::Poisoned)),
        }
    }
}

/// The generation that takes appends.
struct Current {
    generation: u32,
    file: Arc<File>,
    /// Offset of the next frame.
    end: u64,
    /// Length of the file, zero-filled past `end`.
    allocated: u64,
}

/// A request that completes once the file it wrote to is synced.
type Waiter = (Arc<File>, oneshot::Sender<Result<(), StoreError>>);

struct SyncQueue {
    waiting: Vec<Waiter>,
    open: bool,
}

struct SyncShared {
    queue: Mutex<SyncQueue>,
    wake: Condvar,
}

/// The open log: appends, reads of blobs, new generations.
pub(crate) struct Log {
    directory: PathBuf,
    current: Mutex<Current>,
    /// Every generation still on disk, for reading blobs.
    files: RwLock<BTreeMap<u32, Arc<File>>>,
    sync: Arc<SyncShared>,
    poisoned: Arc<AtomicBool>,
    /// Bytes in the current generation, for the compaction policy.
    bytes: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Log {
    /// Opens the log in `directory`, creating it when there is none, and
    /// hands every record of the newest generation to `apply`, with the
    /// places of its blobs.
    pub fn open(directory: &Path, mut apply: impl FnMut(LogRecord, Vec<Location>)) -> Result<Self, StoreError> {
        let open_error = |error: std::io::Error| StoreError::Open(format!("{}: {error}", directory.display()));
        std::fs::create_dir_all(directory).map_err(open_error)?;
        if directory.join(VERSION_1_FILE).exists() {
            return Err(StoreError::Open(format!(
                "{} holds a store of format version 1 ({VERSION_1_FILE}), written by an earlier development \
                 build; this binary reads version {FORMAT_VERSION}. Start with an empty data directory",
                directory.display()
            )));
        }
        remove_partial_generations(directory).map_err(open_error)?;
        let mut generations = list_generations(directory).map_err(open_error)?;
        let chosen = match generations.pop() {
            Some(generation) => {
                let path = generation_path(directory, generation);
                let scan = scan_generation(&path, generation, &mut apply)?;
                if !scan.complete {
                    return Err(StoreError::Open(format!(
                        "{} is damaged: its snapshot ends in an invalid record at offset {}. Restore the data \
                         directory from a backup, or move this file away to start from the generation before it",
                        path.display(),
                        scan.good_len
                    )));
                }
                Some((generation, scan))
            }
            None => None,
        };

        let mut files = BTreeMap::new();
        for &generation in &generations {
            let file = File::open(generation_path(directory, generation)).map_err(open_error)?;
            files.insert(generation, Arc::new(file));
        }
        let (generation, file, end) = match chosen {
            Some((generation, scan)) => {
                let path = generation_path(directory, generation);
                let file = OpenOptions::new().read(true).write(true).open(&path).map_err(open_error)?;
                if scan.good_len < scan.file_len {
                    // Zeros are the preallocated space. Anything else is a
                    // write cut short, which was never acknowledged, or
                    // damage on disk: it is kept in a file of its own.
                    if let Some(saved) = save_tail(&file, &path, scan.good_len, scan.file_len).map_err(open_error)? {
                        tracing::warn!(
                            path = %path.display(),
                            kept_bytes = scan.good_len,
                            dropped_bytes = scan.file_len - scan.good_len,
                            saved = %saved.display(),
                            "the log ends in an invalid record, left by an interrupted write or damaged on disk; \
                             the bytes from there on are left out of the store and saved"
                        );
                    }
                    // Truncating also drops any whole frame after a torn
                    // one, so that later appends cannot make it count.
                    file.set_len(scan.good_len).map_err(open_error)?;
                    file.sync_all().map_err(open_error)?;
                }
                (generation, file, scan.good_len)
            }
            None => {
                let (file, end, ()) = create_generation(directory, 1, |_| Ok(()))?;
                (1, file, end)
            }
        };
        let file = Arc::new(file);
        files.insert(generation, file.clone());

        let sync = Arc::new(SyncShared {
            queue: Mutex::new(SyncQueue { waiting: Vec::new(), open: true }),
            wake: Condvar::new(),
        });
        let poisoned = Arc::new(AtomicBool::new(false));
        let thread = {
            let sync = sync.clone();
            let poisoned = poisoned.clone();
            std::thread::Builder::new()
                .name("postroom-log-sync".into())
                .spawn(move || run_sync(&sync, &poisoned))
                .map_err(open_error)?
        };
        Ok(Self {
            directory: directory.to_path_buf(),
            current: Mutex::new(Current { generation, file, end, allocated: end }),
            files: RwLock::new(files),
            sync,
            poisoned,
            bytes: AtomicU64::new(end),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Writes a record and its blobs, and returns the ticket that completes
    /// once they are durable with the places of the blobs. The caller must
    /// hold the lock that orders the change, so that the log order matches
    /// the apply order.
    pub fn append(&self, record: &LogRecord, blobs: &[impl Blob]) -> (Ticket, Vec<Location>) {
        if self.poisoned.load(Ordering::SeqCst) {
            return (Ticket::Failed(StoreError::Poisoned), Vec::new());
        }
        let mut frame = Vec::new();
        let (blob_start, lens) = match encode_frame(record, blobs, &mut frame) {
            Ok(encoded) => encoded,
            Err(error) => return (Ticket::Failed(error), Vec::new()),
        };
        let (done, receiver) = oneshot::channel();
        let mut current = self.current.lock();
        let needed = current.end + frame.len() as u64;
        if needed > current.allocated {
            let allocated = needed + PREALLOCATION_BYTES;
            let zeros = vec![0u8; (allocated - current.allocated) as usize];
            if let Err(error) = current.file.write_all_at(&zeros, current.allocated) {
                tracing::error!(%error, "extending the log failed; the store stops accepting writes");
                self.poisoned.store(true, Ordering::SeqCst);
                return (Ticket::Failed(io_error(error)), Vec::new());
            }
            current.allocated = allocated;
        }
        if let Err(error) = current.file.write_all_at(&frame, current.end) {
            tracing::error!(%error, "writing the log failed; the store stops accepting writes");
            self.poisoned.store(true, Ordering::SeqCst);
            return (Ticket::Failed(io_error(error)), Vec::new());
        }
        let locations = locations(current.generation, current.end + blob_start, &lens);
        current.end += frame.len() as u64;
        self.bytes.store(current.end, Ordering::Relaxed);
        let file = current.file.clone();
        // Queued while the write lock is held, so that one sync covers
        // every frame written before it.
        self.sync.queue.lock().waiting.push((file, done));
        drop(current);
        self.sync.wake.notify_one();
        (Ticket::Pending(receiver), locations)
    }

    /// Returns a ticket that completes once everything written so far is
    /// durable. A response that relies on earlier changes without making one
    /// of its own waits for it.
    pub fn barrier(&self) -> Ticket {
        if self.poisoned.load(Ordering::SeqCst) {
            return Ticket::Failed(StoreError::Poisoned);
        }
        let (done, receiver) = oneshot::channel();
        let file = self.current.lock().file.clone();
        self.sync.queue.lock().waiting.push((file, done));
        self.sync.wake.notify_one();
        Ticket::Pending(receiver)
    }

    /// Reads one blob back.
    pub fn read(&self, location: Location) -> Result<Vec<u8>, StoreError> {
        let file = self.files.read().get(&location.generation).cloned().ok_or_else(|| {
            StoreError::Io(format!(
                "log generation {} not found, but a live message points into it",
                location.generation
            ))
        })?;
        let mut buffer = vec![0u8; location.len as usize];
        file.read_exact_at(&mut buffer, location.offset).map_err(io_error)?;
        let valid = buffer.len() >= 4 && crc32fast::hash(&buffer[4..]).to_le_bytes() == buffer[..4];
        if !valid {
            tracing::error!(
                generation = location.generation,
                offset = location.offset,
                "a message content in the log fails its checksum"
            );
            return Err(StoreError::Io(format!(
                "the message content at offset {} of log generation {} is damaged",
                location.offset, location.generation
            )));
        }
        buffer.drain(..4);
        Ok(buffer)
    }

    /// Starts a new generation after making the current one durable.
    /// `fill` writes the snapshot that opens it. The caller must stop every
    /// change while this runs.
    pub fn start_generation<T>(
        &self,
        fill: impl FnOnce(&mut SnapshotWriter) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut current = self.current.lock();
        // The old generation keeps its frames and drops its preallocation.
        let end = current.end;
        let result = current
            .file
            .set_len(end)
            .and_then(|()| current.file.sync_data())
            .map_err(io_error)
            .and_then(|()| create_generation(&self.directory, current.generation + 1, fill));
        match result {
            Ok((file, end, value)) => {
                let file = Arc::new(file);
                current.generation += 1;
                current.file = file.clone();
                current.end = end;
                current.allocated = end;
                self.bytes.store(end, Ordering::Relaxed);
                self.files.write().insert(current.generation, file);
                Ok(value)
            }
            Err(error) => {
                tracing::error!(%error, "starting a new log generation failed; the store stops accepting writes");
                self.poisoned.store(true, Ordering::SeqCst);
                Err(error)
            }
        }
    }

    /// Returns the generation that takes appends.
    pub fn generation(&self) -> u32 {
        self.current.lock().generation
    }

    /// Generations on disk with their sizes in bytes.
    pub fn generations(&self) -> Vec<(u32, u64)> {
        let (current, end) = {
            let current = self.current.lock();
            (current.generation, current.end)
        };
        self.files
            .read()
            .iter()
            .map(|(&generation, file)| {
                // The current file also contains its preallocated zeros.
                let len = if generation == current { end } else { file.metadata().map(|m| m.len()).unwrap_or(0) };
                (generation, len)
            })
            .collect()
    }

    /// Deletes the generations before the current one that are not in
    /// `keep`.
    pub fn retire(&self, keep: &BTreeSet<u32>) {
        let current = self.generation();
        let mut files = self.files.write();
        let retired: Vec<u32> =
            files.keys().copied().filter(|generation| *generation < current && !keep.contains(generation)).collect();
        for generation in retired {
            files.remove(&generation);
            let path = generation_path(&self.directory, generation);
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "removing a log generation failed");
            }
        }
    }

    /// Bytes in the current generation.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Stops the sync thread once everything queued so far is durable.
    pub fn shutdown(&self) {
        self.sync.queue.lock().open = false;
        self.sync.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        if let Err(error) = self.current.lock().file.sync_all() {
            tracing::error!(%error, "final sync of the log failed");
        }
    }
}

fn run_sync(shared: &SyncShared, poisoned: &AtomicBool) {
    loop {
        let batch = {
            let mut queue = shared.queue.lock();
            while queue.waiting.is_empty() && queue.open {
                shared.wake.wait(&mut queue);
            }
            if queue.waiting.is_empty() {
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        let mut synced: Vec<*const File> = Vec::new();
        let mut failed = poisoned.load(Ordering::SeqCst);
        for (file, _) in &batch {
            let identity = Arc::as_ptr(file);
            if failed || synced.contains(&identity) {
                continue;
            }
            if let Err(error) = file.sync_data() {
                tracing::error!(%error, "syncing the log failed; the store stops accepting writes");
                poisoned.store(true, Ordering::SeqCst);
                failed = true;
            }
            synced.push(identity);
        }
        for (_, done) in batch {
            let _ = done.send(if failed { Err(StoreError::Poisoned) } else { Ok(()) });
        }
    }
}

/// Blobs of a record that has none.
pub(crate) const NO_BLOBS: &[Vec<u8>] = &[];

/// A value written as a blob, encoded straight into the frame.
pub(crate) trait Blob {
    fn encode_into(&self, buffer: &mut Vec<u8>) -> Result<(), StoreError>;
}

impl Blob for Vec<u8> {
    fn encode_into(&self, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
        buffer.extend_from_slice(self);
        Ok(())
    }
}

impl Blob for std::sync::Arc<crate::MessageContent> {
    fn encode_into(&self, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
        bincode::serialize_into(buffer, &**self)
            .map_err(|error| StoreError::Io(format!("encoding a message failed: {error}")))
    }
}

/// Appends one frame to `buffer`. Returns the offset of the first blob from
/// the start of the frame, and the length of each blob.
fn encode_frame(record: &LogRecord, blobs: &[impl Blob], buffer: &mut Vec<u8>) -> Result<(u64, Vec<u32>), StoreError> {
    let start = buffer.len();
    let result = encode_frame_at(start, record, blobs, buffer);
    if result.is_err() {
        buffer.truncate(start);
    }
    result
}

fn encode_frame_at(
    start: usize,
    record: &LogRecord,
    blobs: &[impl Blob],
    buffer: &mut Vec<u8>,
) -> Result<(u64, Vec<u32>), StoreError> {
    let table_len = 8 + 4 * blobs.len();
    buffer.resize(start + 8 + table_len, 0);
    bincode::serialize_into(&mut *buffer, record)
        .map_err(|error| StoreError::Io(format!("encoding a log record failed: {error}")))?;
    let record_len = buffer.len() - start - 8 - table_len;
    let blob_start = (buffer.len() - start) as u64;
    let mut lens = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let before = buffer.len();
        buffer.extend_from_slice(&[0u8; 4]);
        blob.encode_into(buffer)?;
        let crc = crc32fast::hash(&buffer[before + 4..]);
        buffer[before..before + 4].copy_from_slice(&crc.to_le_bytes());
        lens.push((buffer.len() - before) as u32);
    }
    let payload_len = buffer.len() - start - 8;
    if payload_len > MAX_FRAME_LEN as usize {
        return Err(StoreError::Io(format!("a log record of {payload_len} bytes exceeds the limit")));
    }
    let mut table = start + 8;
    for value in [blobs.len() as u32, record_len as u32].into_iter().chain(lens.iter().copied()) {
        buffer[table..table + 4].copy_from_slice(&value.to_le_bytes());
        table += 4;
    }
    let crc = crc32fast::hash(&buffer[start + 8..]);
    buffer[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    buffer[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok((blob_start, lens))
}

/// Places of blobs of `lens` bytes that follow each other from `offset`.
fn locations(generation: u32, mut offset: u64, lens: &[u32]) -> Vec<Location> {
    lens.iter()
        .map(|&len| {
            let location = Location { generation, len, offset };
            offset += u64::from(len);
            location
        })
        .collect()
}

/// Splits a frame's payload into its record and the offsets and lengths of
/// its blobs, relative to the payload.
fn decode_payload(payload: &[u8]) -> Option<(LogRecord, Vec<(u64, u32)>)> {
    let word = |index: usize| -> Option<u32> {
        let bytes = payload.get(index * 4..index * 4 + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let count = word(0)? as usize;
    let record_len = word(1)? as usize;
    let record_start = 8usize.checked_add(count.checked_mul(4)?)?;
    let record_bytes = payload.get(record_start..record_start.checked_add(record_len)?)?;
    let record = bincode::deserialize(record_bytes).ok()?;
    let mut offset = (record_start + record_len) as u64;
    let mut blobs = Vec::with_capacity(count);
    for index in 0..count {
        let len = word(2 + index)?;
        blobs.push((offset, len));
        offset += u64::from(len);
    }
    (offset == payload.len() as u64).then_some((record, blobs))
}

/// Copies the bytes of `file` from `start` to `end`, without the zeros at
/// their end, to `PATH.damaged-START` beside it. Returns that path, or
/// `None` when the bytes are all zero.
fn save_tail(file: &File, path: &Path, start: u64, end: u64) -> std::io::Result<Option<PathBuf>> {
    let mut tail = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut tail, start)?;
    let Some(last) = tail.iter().rposition(|&byte| byte != 0) else {
        return Ok(None);
    };
    tail.truncate(last + 1);
    let saved = PathBuf::from(format!("{}.damaged-{start}", path.display()));
    let mut copy = File::create(&saved)?;
    copy.write_all(&tail)?;
    copy.sync_all()?;
    Ok(Some(saved))
}

/// Removes generation files whose writing never finished.
fn remove_partial_generations(directory: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.to_str().is_some_and(|name| name.ends_with(".wal.partial")) {
            tracing::warn!(path = %path.display(), "removing a log generation whose writing was cut short");
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

fn generation_path(directory: &Path, generation: u32) -> PathBuf {
    directory.join(format!("log-{generation:010}.wal"))
}

/// Generation numbers of the log files in `directory`, ascending.
fn list_generations(directory: &Path) -> std::io::Result<Vec<u32>> {
    let mut generations = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name.strip_prefix("log-").and_then(|rest| rest.strip_suffix(".wal")) {
            if let Ok(generation) = number.parse() {
                generations.push(generation);
            }
        }
    }
    generations.sort_unstable();
    Ok(generations)
}

/// Writes the snapshot that opens a new generation, a megabyte at a time.
pub(crate) struct SnapshotWriter {
    file: File,
    generation: u32,
    buffer: Vec<u8>,
    /// Offset in the file of the start of `buffer`.
    written: u64,
}

impl SnapshotWriter {
    /// Writes a record and its blobs, and returns the places of the blobs.
    pub fn push(&mut self, record: &LogRecord, blobs: &[impl Blob]) -> Result<Vec<Location>, StoreError> {
        let frame_start = self.written + self.buffer.len() as u64;
        let (blob_start, lens) = encode_frame(record, blobs, &mut self.buffer)?;
        let locations = locations(self.generation, frame_start + blob_start, &lens);
        if self.buffer.len() >= 1 << 20 {
            self.file.write_all(&self.buffer).map_err(io_error)?;
            self.written += self.buffer.len() as u64;
            self.buffer.clear();
        }
        Ok(locations)
    }
}

/// Writes a new generation file: the snapshot that `fill` writes and the
/// record that closes it, and makes it durable. Returns it with its length
/// and what `fill` returned.
fn create_generation<T>(
    directory: &Path,
    generation: u32,
    fill: impl FnOnce(&mut SnapshotWriter) -> Result<T, StoreError>,
) -> Result<(File, u64, T), StoreError> {
    let path = generation_path(directory, generation);
    let partial = path.with_extension("wal.partial");
    let file =
        OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&partial).map_err(io_error)?;
    let mut writer = SnapshotWriter { file, generation, buffer: Vec::with_capacity(2 << 20), written: 0 };
    writer.buffer.extend_from_slice(MAGIC);
    writer.buffer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    writer.buffer.extend_from_slice(&generation.to_le_bytes());
    let value = fill(&mut writer)?;
    writer.push(&LogRecord::SnapshotEnd, NO_BLOBS)?;
    let SnapshotWriter { mut file, buffer, written, .. } = writer;
    file.write_all(&buffer).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    std::fs::rename(&partial, &path).map_err(io_error)?;
    File::open(directory).and_then(|d| d.sync_all()).map_err(io_error)?;
    Ok((file, written + buffer.len() as u64, value))
}

/// Result of scanning one generation.
struct Scan {
    /// The snapshot at its start is closed.
    complete: bool,
    /// Length up to the last whole frame.
    good_len: u64,
    file_len: u64,
}

/// Reads the frames of one generation file in order.
fn scan_generation(
    path: &Path,
    generation: u32,
    apply: &mut impl FnMut(LogRecord, Vec<Location>),
) -> Result<Scan, StoreError> {
    let open_error = |error: std::io::Error| StoreError::Open(format!("{}: {error}", path.display()));
    let file = File::open(path).map_err(open_error)?;
    let file_len = file.metadata().map_err(open_error)?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; HEADER_LEN as usize];
    if reader.read_exact(&mut header).is_err() {
        return Ok(Scan { complete: false, good_len: 0, file_len });
    }
    if &header[..8] != MAGIC {
        return Err(StoreError::Open(format!("{} is not a Postroom store log", path.display())));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version > FORMAT_VERSION {
        return Err(StoreError::Open(format!(
            "{} has format version {version}, but this binary reads up to version {FORMAT_VERSION}; use a newer postroom",
            path.display()
        )));
    }

    let mut complete = false;
    let mut good_len = HEADER_LEN;
    let mut payload = Vec::new();
    loop {
        let mut frame = [0u8; 8];
        if reader.read_exact(&mut frame).is_err() {
            break;
        }
        let payload_len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if payload_len > MAX_FRAME_LEN {
            break;
        }
        payload.resize(payload_len as usize, 0);
        if reader.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        let Some((record, blobs)) = decode_payload(&payload) else {
            break;
        };
        let payload_start = good_len + 8;
        good_len = payload_start + u64::from(payload_len);
        if matches!(record, LogRecord::SnapshotEnd) {
            complete = true;
            continue;
        }
        let blobs = blobs
            .into_iter()
            .map(|(offset, len)| Location { generation, len, offset: payload_start + offset })
            .collect();
        apply(record, blobs);
    }
    Ok(Scan { complete, good_len, file_len })
}
