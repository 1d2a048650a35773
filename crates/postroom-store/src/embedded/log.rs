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
//! Writers encode their frames into a shared buffer while they hold the
//! lock that orders their change. Durability comes in batches (group
//! commit) that the requests run themselves. A request that appends while
//! no request has the lead takes it. When it waits for its ticket, it
//! yields once so that requests ready to run can append too, writes
//! everything buffered with one positioned write, makes it durable with
//! one `fdatasync`, and completes the tickets of the batch. Requests
//! that append meanwhile queue up, and the leader then hands the lead to
//! the oldest of them, which runs the next batch. The leader blocks its
//! Tokio worker for the write and the sync while the other workers go on.
//! Against a dedicated sync thread, this saves a thread wake-up and about
//! two context switches per batch. The notes of docs/benchmarks.md give
//! the measured gain. A blob whose frame is still buffered is read from
//! the buffer.

use super::preallocation::{Policy, Preallocator};
use super::queue_state::MessageMeta;
use crate::{MoveTaskRecord, QueueId, QueueKey, QueueRecord, StoreError, Timestamp};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

const MAGIC: &[u8; 8] = b"PROOMLOG";
/// Version of the file layout and record encoding. A binary that meets a
/// newer version refuses to open the store.
pub(crate) const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: u64 = 16;
/// Zeros written ahead of the appends by a request that finds none left.
/// Appends then overwrite blocks that are already allocated, so
/// `fdatasync` flushes data only and skips the inode. On the disk of
/// docs/benchmarks.md, that took about half the time of a sync that
/// extends the file. In a large generation, a background thread writes the
/// zeros ahead instead ([`Preallocator`]).
const PREALLOCATION_BYTES: u64 = 2 * 1024 * 1024;
/// Largest gap between two blobs that one read of [`Log::read_many`] spans.
/// Blobs of one frame are adjacent, and a frame header lies between the
/// blobs of consecutive frames.
const READ_GAP_BYTES: u64 = 4096;
/// Maximum length of one read that [`Log::read_many`] builds from several
/// blobs.
const READ_SPAN_BYTES: u64 = 1024 * 1024;
/// File in the data directory whose lock marks the store as open. A second
/// process that recovered the log while the first appends to it would cut
/// off the frames the first is writing.
const LOCK_FILE: &str = "LOCK";
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
    /// Completes with the leader's batch, or leads the next one.
    Pending(Follower),
    /// Runs the next batch when waited for.
    Lead(Leader),
    Failed(StoreError),
}

impl Ticket {
    /// Waits until the record is durable. A ticket that leads, from the
    /// start or once the lead is handed to it, writes and syncs the batch on
    /// the calling thread, which blocks for one write and one `fdatasync`,
    /// and longer while a compaction writes its snapshot.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self {
            Ticket::Ready => Ok(()),
            Ticket::Failed(error) => Err(error),
            Ticket::Lead(leader) => leader.run().await,
            Ticket::Pending(mut follower) => match (&mut follower.receiver).await {
                Ok(Ok(Turn::Durable)) => Ok(()),
                Ok(Ok(Turn::Lead)) => Leader::new(follower.shared.clone()).run().await,
                Ok(Err(error)) => Err(error),
                Err(_) => Err(StoreError::Poisoned),
            },
        }
    }
}

/// Outcome of a queued request's wait.
enum Turn {
    /// Its record is durable.
    Durable,
    /// It leads the next batch, which contains its record.
    Lead,
}

type Waiter = oneshot::Sender<Result<Turn, StoreError>>;

/// The lead of the next batch.
pub(crate) struct Leader {
    shared: Arc<Shared>,
    ran: bool,
}

impl Leader {
    fn new(shared: Arc<Shared>) -> Self {
        Leader { shared, ran: false }
    }

    /// Runs one batch, then hands the lead on. It first yields to the
    /// scheduler once, so that requests which are ready to run append
    /// before the batch starts and join it instead of waiting for the next.
    async fn run(mut self) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        let result = sync_batch(&self.shared);
        self.ran = true;
        hand_off(&self.shared);
        result
    }
}

impl Drop for Leader {
    /// Hands the lead on when the request was dropped before its batch ran
    /// (before it waited, or while it yielded), so the queued requests do
    /// not wait for a batch that never runs.
    fn drop(&mut self) {
        if !self.ran {
            hand_off(&self.shared);
        }
    }
}

/// A request queued for the running batch's successor.
pub(crate) struct Follower {
    shared: Arc<Shared>,
    receiver: oneshot::Receiver<Result<Turn, StoreError>>,
}

impl Drop for Follower {
    /// Hands the lead on when it reached this request before the request
    /// could read it. Closing the channel first makes a later `hand_off`
    /// fail to send and try the next request, so no lead arrives unread.
    fn drop(&mut self) {
        self.receiver.close();
        if let Ok(Ok(Turn::Lead)) = self.receiver.try_recv() {
            hand_off(&self.shared);
        }
    }
}

/// Passes the lead to the oldest queued request, or ends it when none is
/// queued. The oldest first matters: a request with several tickets waits
/// for them in the order it appended them.
fn hand_off(shared: &Shared) {
    loop {
        let next = {
            let mut current = shared.current.lock();
            match current.waiters.pop_front() {
                Some(next) => next,
                None => {
                    current.leading = false;
                    return;
                }
            }
        };
        // A request dropped since it queued has closed its channel and
        // cannot lead. Its record is written by whichever batch runs next.
        if next.send(Ok(Turn::Lead)).is_ok() {
            return;
        }
    }
}

/// The generation that takes appends, and the frames not yet in its file.
struct Current {
    generation: u32,
    file: Arc<File>,
    /// Offset of the next frame.
    end: u64,
    /// Frames appended since the last batch took them. They end at
    /// `end`.
    pending: Vec<u8>,
    /// Frames a batch is writing to the file, with their offset.
    writing: Option<(u64, Arc<Vec<u8>>)>,
    /// Requests that complete once every frame appended before them is
    /// durable, oldest first.
    waiters: VecDeque<Waiter>,
    /// Whether a request has the lead of the next batch. While it does,
    /// new requests queue up in `waiters`.
    leading: bool,
    /// Whether the log takes appends. [`Log::shutdown`] clears it.
    open: bool,
}

/// State kept between batches. It is locked while a batch writes and syncs
/// its frames, so a new generation never starts halfway through a batch
/// and two syncs through the log's descriptor never run at once. Linux
/// reports a failed writeback once per open file, to the first `fdatasync`
/// that checks, so a sync running beside another could succeed for frames
/// that the other one found lost. The preallocation thread syncs through a
/// descriptor of its own.
struct Writer {
    /// Bytes at the start of the current file that are frames or zeros.
    /// The file can be longer while the preallocation thread writes.
    allocated: u64,
    /// The emptied buffer of the last batch, reused for the next one.
    spare: Vec<u8>,
}

/// State shared by the requests and their batches. Lock order: `writer`,
/// then `current`.
struct Shared {
    current: Mutex<Current>,
    writer: Mutex<Writer>,
    /// Generation of `current`, and how many of its bytes the file holds.
    /// A blob below `written` is read from the file without a lock.
    generation: AtomicU32,
    written: AtomicU64,
    poisoned: AtomicBool,
    /// The data directory, where the generation files are.
    directory: PathBuf,
    zeros: Preallocator,
}

impl Shared {
    /// Fails once a write or sync of the log has failed.
    fn check(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Logs a failed write or sync and stops the store from taking more.
    fn poison(&self, error: &std::io::Error, action: &str) -> StoreError {
        tracing::error!(%error, "{action} the log failed; the store stops accepting writes");
        self.poisoned.store(true, Ordering::SeqCst);
        StoreError::Poisoned
    }
}

/// The open log: appends, reads of blobs, new generations.
pub(crate) struct Log {
    shared: Arc<Shared>,
    /// Every generation still on disk, for reading blobs.
    files: RwLock<BTreeMap<u32, Arc<File>>>,
    /// Bytes in the current generation, for the compaction policy.
    bytes: AtomicU64,
    /// The locked [`LOCK_FILE`], released by [`Log::shutdown`] or when the
    /// process ends.
    lock: Mutex<Option<File>>,
}

impl Log {
    /// Opens the log in `directory`, creating it when there is none, and
    /// hands every record of the newest generation to `apply`, with the
    /// places of its blobs.
    pub fn open(directory: &Path, apply: impl FnMut(LogRecord, Vec<Location>)) -> Result<Self, StoreError> {
        Self::open_with(directory, Policy::default(), apply)
    }

    /// Opens the log with the given policy for the zeros written ahead.
    fn open_with(
        directory: &Path,
        zeros: Policy,
        mut apply: impl FnMut(LogRecord, Vec<Location>),
    ) -> Result<Self, StoreError> {
        let open_error = |error: std::io::Error| StoreError::Open(format!("{}: {error}", directory.display()));
        std::fs::create_dir_all(directory).map_err(open_error)?;
        let lock = lock_directory(directory)?;
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

        let shared = Arc::new(Shared {
            current: Mutex::new(Current {
                generation,
                file,
                end,
                pending: Vec::new(),
                writing: None,
                waiters: VecDeque::new(),
                leading: false,
                open: true,
            }),
            writer: Mutex::new(Writer { allocated: end, spare: Vec::new() }),
            generation: AtomicU32::new(generation),
            written: AtomicU64::new(end),
            poisoned: AtomicBool::new(false),
            directory: directory.to_path_buf(),
            zeros: Preallocator::new(zeros),
        });
        Ok(Self {
            shared,
            files: RwLock::new(files),
            bytes: AtomicU64::new(end),
            lock: Mutex::new(Some(lock)),
        })
    }

    /// Appends a record and its blobs, and returns the ticket that completes
    /// once they are durable with the places of the blobs. The caller must
    /// hold the lock that orders the change, so that the log order matches
    /// the apply order.
    pub fn append(&self, record: &LogRecord, blobs: &[impl Blob]) -> (Ticket, Vec<Location>) {
        if let Err(error) = self.shared.check() {
            return (Ticket::Failed(error), Vec::new());
        }
        let mut current = self.shared.current.lock();
        if !current.open {
            return (Ticket::Failed(closed()), Vec::new());
        }
        let before = current.pending.len();
        let (blob_start, lens) = match encode_frame(record, blobs, &mut current.pending) {
            Ok(encoded) => encoded,
            Err(error) => return (Ticket::Failed(error), Vec::new()),
        };
        let locations = locations(current.generation, current.end + blob_start, &lens);
        current.end += (current.pending.len() - before) as u64;
        self.bytes.store(current.end, Ordering::Relaxed);
        (self.ticket(&mut current), locations)
    }

    /// Gives the request the lead when no request has it, and queues the
    /// request otherwise.
    fn ticket(&self, current: &mut Current) -> Ticket {
        if !current.leading {
            current.leading = true;
            return Ticket::Lead(Leader::new(self.shared.clone()));
        }
        let (done, receiver) = oneshot::channel();
        current.waiters.push_back(done);
        Ticket::Pending(Follower { shared: self.shared.clone(), receiver })
    }

    /// Returns a ticket that completes once everything appended so far is
    /// durable. A response that relies on earlier changes without making
    /// one of its own waits for it.
    pub fn barrier(&self) -> Ticket {
        if let Err(error) = self.shared.check() {
            return Ticket::Failed(error);
        }
        let mut current = self.shared.current.lock();
        if !current.open {
            return Ticket::Failed(closed());
        }
        self.ticket(&mut current)
    }

    /// Reads one blob back.
    pub fn read(&self, location: Location) -> Result<Vec<u8>, StoreError> {
        let blobs = self.read_many(std::slice::from_ref(&location))?;
        blobs.into_iter().next().ok_or_else(|| StoreError::Io("reading a blob returned nothing".into()))
    }

    /// Reads blobs back, in the order of `locations`. Blobs that lie close
    /// together in one file share a read, so that the messages of one batch
    /// cost one system call instead of one each.
    pub fn read_many(&self, locations: &[Location]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut blobs: Vec<Option<Vec<u8>>> = vec![None; locations.len()];
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let written = self.shared.written.load(Ordering::SeqCst);
        let mut in_files = Vec::with_capacity(locations.len());
        for (index, location) in locations.iter().enumerate() {
            let end = location.offset + u64::from(location.len);
            if location.generation == generation && end > written {
                blobs[index] = self.read_buffered(*location);
            }
            if blobs[index].is_none() {
                in_files.push(index);
            }
        }
        in_files.sort_by_key(|&index| (locations[index].generation, locations[index].offset));

        let mut first = 0;
        while first < in_files.len() {
            let start = locations[in_files[first]];
            let mut end = start.offset + u64::from(start.len);
            let mut last = first + 1;
            while let Some(&index) = in_files.get(last) {
                let next = locations[index];
                let next_end = next.offset + u64::from(next.len);
                let joins = next.generation == start.generation
                    && next.offset <= end + READ_GAP_BYTES
                    && next_end - start.offset <= READ_SPAN_BYTES;
                if !joins {
                    break;
                }
                end = end.max(next_end);
                last += 1;
            }
            let file = self.files.read().get(&start.generation).cloned().ok_or_else(|| {
                StoreError::Io(format!(
                    "log generation {} not found, but a live message points into it",
                    start.generation
                ))
            })?;
            let mut span = vec![0u8; (end - start.offset) as usize];
            file.read_exact_at(&mut span, start.offset).map_err(io_error)?;
            for &index in &in_files[first..last] {
                let location = locations[index];
                let from = (location.offset - start.offset) as usize;
                blobs[index] = Some(span[from..from + location.len as usize].to_vec());
            }
            first = last;
        }

        blobs
            .into_iter()
            .zip(locations)
            .map(|(blob, location)| checked_blob(blob.unwrap_or_default(), *location))
            .collect()
    }

    /// Copies a blob from the frames that are not in the file yet, or
    /// returns `None` when the file contains it by now.
    fn read_buffered(&self, location: Location) -> Option<Vec<u8>> {
        let current = self.shared.current.lock();
        if location.generation != current.generation {
            return None;
        }
        let copy = |start: u64, frames: &[u8]| {
            let from = usize::try_from(location.offset.checked_sub(start)?).ok()?;
            frames.get(from..from + location.len as usize).map(<[u8]>::to_vec)
        };
        let pending_start = current.end - current.pending.len() as u64;
        copy(pending_start, &current.pending)
            .or_else(|| current.writing.as_ref().and_then(|(start, frames)| copy(*start, frames)))
    }

    /// Starts a new generation after making the current one durable.
    /// `fill` writes the snapshot that opens it. The caller must stop every
    /// change while this runs.
    pub fn start_generation<T>(
        &self,
        fill: impl FnOnce(&mut SnapshotWriter) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut writer = self.shared.writer.lock();
        // The background thread leaves the old file before it shrinks.
        self.shared.zeros.settle();
        let mut current = self.shared.current.lock();
        // The old generation gets the frames still buffered, keeps them and
        // drops its preallocation. Its waiters stay queued: the next batch
        // completes them.
        let end = current.end;
        let pending_start = end - current.pending.len() as u64;
        let result = current
            .file
            .write_all_at(&current.pending, pending_start)
            .and_then(|()| current.file.set_len(end))
            .and_then(|()| current.file.sync_data())
            .map_err(io_error);
        current.pending.clear();
        self.shared.written.store(end, Ordering::SeqCst);
        let result = result.and_then(|()| create_generation(&self.shared.directory, current.generation + 1, fill));
        match result {
            Ok((file, end, value)) => {
                let file = Arc::new(file);
                current.generation += 1;
                current.file = file.clone();
                current.end = end;
                writer.allocated = end;
                self.shared.generation.store(current.generation, Ordering::SeqCst);
                self.shared.written.store(end, Ordering::SeqCst);
                self.bytes.store(end, Ordering::Relaxed);
                self.files.write().insert(current.generation, file);
                Ok(value)
            }
            Err(error) => {
                tracing::error!(%error, "starting a new log generation failed; the store stops accepting writes");
                self.shared.poisoned.store(true, Ordering::SeqCst);
                Err(error)
            }
        }
    }

    /// Returns the generation that takes appends.
    pub fn generation(&self) -> u32 {
        self.shared.current.lock().generation
    }

    /// Generations on disk with their sizes in bytes.
    pub fn generations(&self) -> Vec<(u32, u64)> {
        let (current, end) = {
            let current = self.shared.current.lock();
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
            let path = generation_path(&self.shared.directory, generation);
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "removing a log generation failed");
            }
        }
    }

    /// Bytes in the current generation.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Makes everything appended so far durable and completes the requests
    /// still queued. A request that has the lead still runs its own batch,
    /// which finds the frames written. Later appends fail.
    pub fn shutdown(&self) {
        self.shared.current.lock().open = false;
        // A leader's batch may be running: this one waits for its end on
        // the writer lock.
        let _ = sync_batch(&self.shared);
        self.shared.zeros.stop();
        if let Err(error) = self.shared.current.lock().file.sync_all() {
            tracing::error!(%error, "final sync of the log failed");
        }
        // Closing the file releases its lock.
        self.lock.lock().take();
    }
}

/// Takes the lock of the data directory, or fails when another process
/// holds it.
fn lock_directory(directory: &Path) -> Result<File, StoreError> {
    let path = directory.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|error| StoreError::Open(format!("{}: {error}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Open(format!(
            "{} is already in use: another process holds the lock on {}. Stop that server or choose another data directory",
            directory.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(StoreError::Open(format!("locking {} failed: {error}", path.display())))
        }
    }
}

/// Strips the checksum off a blob read back, or fails when it does not
/// match.
fn checked_blob(mut blob: Vec<u8>, location: Location) -> Result<Vec<u8>, StoreError> {
    let valid = blob.len() >= 4 && crc32fast::hash(&blob[4..]).to_le_bytes() == blob[..4];
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
    blob.drain(..4);
    Ok(blob)
}

fn closed() -> StoreError {
    StoreError::Io("the log is closed".into())
}

/// Zeros for preallocation, written a slice at a time.
pub(super) static ZEROS: [u8; 256 * 1024] = [0; 256 * 1024];

/// Buffers above this size are dropped after a batch instead of reused.
const SPARE_CAPACITY: usize = 16 * 1024 * 1024;

/// Runs one batch: writes the frames that requests appended in one
/// positioned write, makes them durable with one `fdatasync`, and completes
/// the requests queued for it.
fn sync_batch(shared: &Shared) -> Result<(), StoreError> {
    let mut writer = shared.writer.lock();
    let (file, generation, start, frames, waiters) = {
        let mut current = shared.current.lock();
        let spare = std::mem::take(&mut writer.spare);
        let frames = Arc::new(std::mem::replace(&mut current.pending, spare));
        let start = current.end - frames.len() as u64;
        if !frames.is_empty() {
            current.writing = Some((start, frames.clone()));
        }
        (current.file.clone(), current.generation, start, frames, std::mem::take(&mut current.waiters))
    };
    let mut result = shared.check();
    if result.is_ok() && !frames.is_empty() {
        result = write_frames(shared, &file, &mut writer, generation, start, &frames)
            .map_err(|error| shared.poison(&error, "writing"));
    }
    {
        let mut current = shared.current.lock();
        current.writing = None;
        if result.is_ok() {
            shared.written.store(start + frames.len() as u64, Ordering::SeqCst);
        }
    }
    if let Ok(mut buffer) = Arc::try_unwrap(frames) {
        if buffer.capacity() <= SPARE_CAPACITY {
            buffer.clear();
            writer.spare = buffer;
        }
    }
    if result.is_ok() {
        result = file.sync_data().map_err(|error| shared.poison(&error, "syncing"));
    }
    drop(writer);
    let failed = result.is_err();
    for done in waiters {
        let _ = done.send(if failed { Err(StoreError::Poisoned) } else { Ok(Turn::Durable) });
    }
    result
}

/// Writes `frames` at `start`, first extending the zeros ahead of them when
/// they reach past the preallocated space, and has the background thread
/// write more when few are left.
fn write_frames(
    shared: &Shared,
    file: &File,
    writer: &mut Writer,
    generation: u32,
    start: u64,
    frames: &[u8],
) -> std::io::Result<()> {
    let end = start + frames.len() as u64;
    writer.allocated = shared.zeros.reserve(generation, writer.allocated, end);
    if end > writer.allocated {
        let allocated = end + PREALLOCATION_BYTES;
        let mut offset = writer.allocated.max(end);
        while offset < allocated {
            let len = (allocated - offset).min(ZEROS.len() as u64) as usize;
            file.write_all_at(&ZEROS[..len], offset)?;
            offset += len as u64;
        }
        writer.allocated = allocated;
    }
    shared.zeros.top_up(generation, || generation_path(&shared.directory, generation), writer.allocated, end);
    file.write_all_at(frames, start)
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

/// Encodes a message content into the bytes that its blob holds, ahead of
/// [`Log::append`].
pub(crate) fn encode_blob(content: &std::sync::Arc<crate::MessageContent>) -> Result<Vec<u8>, StoreError> {
    // Room for the body and the usual ids and digests around it.
    let mut blob = Vec::with_capacity(content.body.len() + 256);
    content.encode_into(&mut blob)?;
    Ok(blob)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &[u8]) -> LogRecord {
        LogRecord::ResourcePut { kind: "test".into(), key: "key".into(), value: value.to_vec() }
    }

    fn opened() -> (tempfile::TempDir, Log) {
        let directory = tempfile::tempdir().expect("temporary directory");
        let log = Log::open(directory.path(), |_, _| {}).expect("open");
        (directory, log)
    }

    fn replayed(directory: &Path) -> Vec<Vec<u8>> {
        let mut blobs = Vec::new();
        let log = Log::open(directory, |_, locations| blobs.extend(locations)).expect("reopen");
        let contents = blobs.into_iter().map(|location| log.read(location).expect("blob")).collect();
        log.shutdown();
        contents
    }

    #[tokio::test]
    async fn read_serves_unwritten_frames() {
        let (directory, log) = opened();

        // Frames stay buffered until a ticket is waited for.
        let (first, first_at) = log.append(&record(b"a"), &[b"pending".to_vec()]);
        assert_eq!(log.read(first_at[0]).expect("read from the pending frames"), b"pending");

        // Frames taken by a batch but not yet in the file.
        {
            let mut current = log.shared.current.lock();
            let frames = std::mem::take(&mut current.pending);
            let start = current.end - frames.len() as u64;
            current.writing = Some((start, Arc::new(frames)));
        }
        let (second, second_at) = log.append(&record(b"b"), &[b"next".to_vec(), b"other".to_vec()]);
        assert_eq!(log.read(first_at[0]).expect("read from the frames being written"), b"pending");
        assert_eq!(log.read(second_at[1]).expect("read from the pending frames"), b"other");

        // Put the frames back as the batch found them and let it run.
        {
            let mut current = log.shared.current.lock();
            let (_, frames) = current.writing.take().expect("frames being written");
            let mut frames = Arc::try_unwrap(frames).expect("one owner");
            frames.extend_from_slice(&current.pending);
            current.pending = frames;
        }
        first.wait().await.expect("first durable");
        second.wait().await.expect("second durable");
        assert!(log.shared.written.load(Ordering::SeqCst) >= second_at[1].offset + u64::from(second_at[1].len));
        assert_eq!(log.read(second_at[0]).expect("read from the file"), b"next");
        log.shutdown();

        assert_eq!(replayed(directory.path()), [b"pending".to_vec(), b"next".to_vec(), b"other".to_vec()]);
    }

    #[tokio::test]
    async fn read_many_keeps_the_given_order() {
        let (_directory, log) = opened();
        let blob = |name: &str| name.as_bytes().to_vec();
        let (ticket, a) = log.append(&record(b"a"), &[blob("a0"), blob("a1"), blob("a2")]);
        ticket.wait().await.expect("durable");
        // A blob longer than the gap that one read spans splits the reads.
        let (ticket, _) = log.append(&record(b"gap"), &[vec![7u8; 3 * READ_GAP_BYTES as usize]]);
        ticket.wait().await.expect("durable");
        let (ticket, b) = log.append(&record(b"b"), &[blob("b0"), blob("b1")]);
        ticket.wait().await.expect("durable");
        log.start_generation(|writer| writer.push(&record(b"snapshot"), NO_BLOBS).map(|_| ())).expect("new generation");
        let (ticket, c) = log.append(&record(b"c"), &[blob("c0")]);
        ticket.wait().await.expect("durable");
        // Until its ticket is waited for, this frame stays out of the file.
        let (pending, d) = log.append(&record(b"d"), &[blob("d0")]);

        let locations = [c[0], a[2], d[0], b[0], a[0], b[1], a[1]];
        let read = log.read_many(&locations).expect("read");
        let expected: Vec<Vec<u8>> = ["c0", "a2", "d0", "b0", "a0", "b1", "a1"].into_iter().map(blob).collect();
        assert_eq!(read, expected);
        assert_eq!(log.read_many(&[]).expect("read nothing"), Vec::<Vec<u8>>::new());

        pending.wait().await.expect("durable");
        log.shutdown();
    }

    #[tokio::test]
    async fn read_many_rejects_a_damaged_blob() {
        let (directory, log) = opened();
        let (ticket, at) = log.append(&record(b"a"), &[b"first".to_vec(), b"second".to_vec()]);
        ticket.wait().await.expect("durable");
        let path = generation_path(directory.path(), log.generation());
        let file = OpenOptions::new().write(true).open(path).expect("open the generation");
        file.write_all_at(b"X", at[1].offset + 4).expect("damage the second blob");

        let error = log.read_many(&at).expect_err("a damaged blob fails the read");
        assert!(error.to_string().contains("damaged"), "{error}");
        assert_eq!(log.read(at[0]).expect("the first blob is intact"), b"first");
        log.shutdown();
    }

    #[test]
    fn one_process_opens_a_directory_at_a_time() {
        let (directory, log) = opened();
        let error = Log::open(directory.path(), |_, _| {}).err().expect("a second open fails");
        assert!(error.to_string().contains("is already in use"), "{error}");

        log.shutdown();
        let reopened = Log::open(directory.path(), |_, _| {}).expect("open after shutdown");
        reopened.shutdown();
    }

    #[tokio::test]
    async fn sync_covers_queued_requests() {
        let (directory, log) = opened();
        let tickets: Vec<Ticket> = (0..20u8).map(|index| log.append(&record(&[index]), &[vec![index]]).0).collect();
        let barrier = log.barrier();
        assert!(matches!(tickets[0], Ticket::Lead(_)), "the first request leads");
        assert_eq!(log.shared.current.lock().waiters.len(), 20);
        for ticket in tickets {
            ticket.wait().await.expect("durable");
        }
        barrier.wait().await.expect("barrier");
        log.shutdown();
        assert_eq!(replayed(directory.path()), (0..20u8).map(|index| vec![index]).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropped_tickets_pass_the_lead_on() {
        let (directory, log) = opened();
        let (leader, _) = log.append(&record(b"a"), &[b"a".to_vec()]);
        let (second, _) = log.append(&record(b"b"), &[b"b".to_vec()]);
        let (third, _) = log.append(&record(b"c"), &[b"c".to_vec()]);
        assert!(matches!(leader, Ticket::Lead(_)), "the first request leads");

        // The leader's request is dropped: the oldest queued one leads.
        drop(leader);
        assert_eq!(log.shared.current.lock().waiters.len(), 1);
        // So is that one, after the lead reached it: the lead moves on.
        drop(second);
        assert!(log.shared.current.lock().waiters.is_empty());
        assert!(log.shared.current.lock().leading);

        third.wait().await.expect("the last request leads and completes");
        assert!(!log.shared.current.lock().leading, "no request holds the lead");
        let (after, _) = log.append(&record(b"d"), &[b"d".to_vec()]);
        assert!(matches!(after, Ticket::Lead(_)), "the next request leads");
        after.wait().await.expect("durable");
        log.shutdown();
        assert_eq!(replayed(directory.path()), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_requests_keep_the_lead_moving() {
        let (_directory, log) = opened();
        let log = Arc::new(log);
        let tasks: Vec<_> = (0..600u32)
            .map(|index| {
                let log = log.clone();
                tokio::spawn(async move {
                    let (ticket, _) = log.append(&record(&index.to_le_bytes()), NO_BLOBS);
                    match index % 3 {
                        // Dropped before it waits, as when a client disconnects.
                        0 => drop(ticket),
                        // Dropped after one poll, while it yields or is queued.
                        1 => {
                            let _ = tokio::time::timeout(std::time::Duration::ZERO, ticket.wait()).await;
                        }
                        _ => ticket.wait().await.expect("durable"),
                    }
                })
            })
            .collect();
        // A lost lead leaves every later request waiting.
        let finished = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            for task in tasks {
                task.await.expect("request task");
            }
            let (last, _) = log.append(&record(b"last"), NO_BLOBS);
            last.wait().await
        })
        .await;
        finished.expect("every request completes").expect("durable");
        log.shutdown();
    }

    #[tokio::test]
    async fn shutdown_completes_queued_requests() {
        let (directory, log) = opened();
        let (leader, _) = log.append(&record(b"a"), &[b"a".to_vec()]);
        let (queued, _) = log.append(&record(b"b"), &[b"b".to_vec()]);
        log.shutdown();
        queued.wait().await.expect("the final batch completes a queued request");
        leader.wait().await.expect("a leader after shutdown finds its record durable");
        assert_eq!(replayed(directory.path()), [b"a".to_vec(), b"b".to_vec()]);
    }

    /// Returns a policy that has the background thread write zeros from the
    /// first frame on, ahead of the two mebibytes a request writes itself.
    fn eager_zeros() -> Policy {
        Policy { start_after: 0, low_water: PREALLOCATION_BYTES + (1 << 20), stretch: 1 << 20 }
    }

    /// Appends `count` records of 1 KiB blobs from concurrent tasks, waits
    /// for each, and returns the blobs with their places.
    async fn append_concurrently(log: &Arc<Log>, first: u32, count: u32) -> Vec<(Vec<u8>, Location)> {
        let tasks: Vec<_> = (first..first + count)
            .map(|index| {
                let log = log.clone();
                tokio::spawn(async move {
                    let blob: Vec<u8> = index.to_le_bytes().iter().copied().cycle().take(1024).collect();
                    let (ticket, at) = log.append(&record(&index.to_le_bytes()), std::slice::from_ref(&blob));
                    ticket.wait().await.expect("durable");
                    (blob, at[0])
                })
            })
            .collect();
        let mut appended = Vec::new();
        for task in tasks {
            appended.push(task.await.expect("append task"));
        }
        appended
    }

    fn eager_log() -> (tempfile::TempDir, Arc<Log>) {
        let directory = tempfile::tempdir().expect("temporary directory");
        let log = Log::open_with(directory.path(), eager_zeros(), |_, _| {}).expect("open");
        (directory, Arc::new(log))
    }

    /// Shuts the log down and checks that its newest generation replays
    /// exactly `blobs`, in any order, and that reopening it found only
    /// zeros past the frames.
    fn assert_replays(log: &Log, directory: &Path, blobs: Vec<(Vec<u8>, Location)>) {
        log.shutdown();
        let file_len = std::fs::metadata(generation_path(directory, log.generation())).expect("log file").len();
        assert!(file_len > log.bytes(), "zeros follow the frames: {file_len} bytes, {} of frames", log.bytes());
        let mut expected: Vec<Vec<u8>> = blobs.into_iter().map(|(blob, _)| blob).collect();
        let mut replayed = replayed(directory);
        expected.sort();
        replayed.sort();
        assert!(replayed == expected, "the reopened log replays {} blobs of {}", replayed.len(), expected.len());
        let saved: Vec<_> = std::fs::read_dir(directory)
            .expect("list the directory")
            .map(|entry| entry.expect("directory entry").file_name())
            .filter(|name| name.to_string_lossy().contains(".damaged-"))
            .collect();
        assert!(saved.is_empty(), "zeros are not saved as damage: {saved:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_zeros_never_cover_frames() {
        let (directory, log) = eager_log();
        // About six mebibytes of frames: the thread writes several
        // stretches while requests append beside it.
        let appended = append_concurrently(&log, 0, 6000).await;
        let (generation, zeroed) = log.shared.zeros.zeroed().expect("the thread wrote zeros");
        assert_eq!(generation, 1);
        assert!(zeroed > 4 << 20, "zeros written up to {zeroed}");
        for (blob, at) in &appended {
            assert_eq!(&log.read(*at).expect("read back"), blob);
        }
        assert_replays(&log, directory.path(), appended);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_generation_stops_old_zeros() {
        let (directory, log) = eager_log();
        let before = append_concurrently(&log, 0, 2000).await;
        log.start_generation(|writer| writer.push(&record(b"snapshot"), NO_BLOBS).map(|_| ())).expect("new generation");
        let old_path = generation_path(directory.path(), 1);
        let old_len = std::fs::metadata(&old_path).expect("old generation").len();

        let after = append_concurrently(&log, 2000, 3000).await;
        let len = std::fs::metadata(&old_path).expect("old generation").len();
        assert_eq!(len, old_len, "no zeros land in the old generation once it is closed");
        for (blob, at) in before.iter().chain(&after) {
            assert_eq!(&log.read(*at).expect("read back"), blob);
        }
        assert_replays(&log, directory.path(), after);
    }

    #[tokio::test]
    async fn start_generation_writes_pending_frames() {
        let (_directory, log) = opened();
        let (ticket, at) = log.append(&record(b"a"), &[b"before".to_vec()]);
        // The frame is still buffered, so start_generation writes it, and
        // the old generation must keep it readable.
        log.start_generation(|writer| writer.push(&record(b"snapshot"), NO_BLOBS).map(|_| ())).expect("new generation");
        ticket.wait().await.expect("durable");
        assert_eq!(log.generation(), 2);
        assert_eq!(log.read(at[0]).expect("read from the old generation"), b"before");
        let (after, after_at) = log.append(&record(b"b"), &[b"after".to_vec()]);
        after.wait().await.expect("durable");
        assert_eq!(log.read(after_at[0]).expect("read from the new generation"), b"after");
        log.shutdown();
        assert!(log.append(&record(b"c"), NO_BLOBS).0.wait().await.is_err(), "appends after shutdown fail");
    }
}
