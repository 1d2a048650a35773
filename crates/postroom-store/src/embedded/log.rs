//! The write-ahead log of the embedded store.
//!
//! File layout: an 8-byte magic, a little-endian `u32` format version, then
//! records. Each record is a little-endian `u32` payload length, a `u32`
//! CRC-32 of the payload, and the payload (a bincode-encoded
//! [`LogRecord`]). A torn or corrupt record ends the log: replay stops
//! there and the file is truncated to the last whole record, which is the
//! state that was acknowledged.
//!
//! One writer thread owns the file. Requests hand it records through a
//! channel and wait for a completion. The thread writes everything that
//! queued up while the previous `fdatasync` ran and syncs once for all of
//! them (group commit).

use super::queue_state::{Claim, DeduplicationEntry, StoredMessage};
use crate::{MoveTaskRecord, QueueId, QueueKey, QueueRecord, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

const MAGIC: &[u8; 8] = b"PROOMLOG";
/// Version of the record encoding. A binary that meets a newer version
/// refuses to open the store.
pub(crate) const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 12;
/// Upper bound on one record, far above the largest valid request.
const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;
pub(crate) const LOG_FILE: &str = "store.log";

/// One change to the store. Replaying the records in order rebuilds the
/// state that was acknowledged.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum LogRecord {
    /// A queue was created, or its attributes or tags changed.
    QueuePut(QueueRecord),
    QueueDeleted { id: QueueId, key: QueueKey, deleted_at: Timestamp },
    /// Messages were sent, or restored by a compaction.
    MessagesPut { queue: QueueId, messages: Vec<StoredMessage> },
    MessagesClaimed { queue: QueueId, claims: Vec<Claim> },
    VisibilityChanged { queue: QueueId, seq: u64, visible_at: Timestamp },
    MessagesDeleted { queue: QueueId, seqs: Vec<u64> },
    QueuePurged { queue: QueueId, at: Timestamp },
    /// Messages left one queue for another in one step: to a dead-letter
    /// queue on receive, or by a move task.
    MessagesMoved { from: QueueId, to: QueueId, seqs: Vec<u64>, messages: Vec<StoredMessage> },
    MoveTaskPut(MoveTaskRecord),
    /// A resource document of another service was created or replaced.
    ResourcePut { kind: String, key: String, value: Vec<u8> },
    ResourceDeleted { kind: String, key: String },
    /// Deduplication history restored by a compaction.
    Deduplications { queue: QueueId, entries: Vec<DeduplicationEntry> },
    /// Every resource was removed.
    Reset,
}

enum Command {
    Append(LogRecord, oneshot::Sender<Result<(), StoreError>>),
    /// Replaces the log with a compacted one made of these records.
    Rotate(Vec<LogRecord>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// Handle to the writer thread.
pub(crate) struct LogWriter {
    sender: parking_lot::Mutex<mpsc::Sender<Command>>,
    poisoned: Arc<AtomicBool>,
    /// Bytes in the current log file, for the compaction policy.
    bytes: Arc<AtomicU64>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
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

impl LogWriter {
    /// Starts the writer thread on an open log positioned at its end.
    pub fn start(path: PathBuf, file: File, bytes: u64) -> Self {
        let (sender, receiver) = mpsc::channel();
        let poisoned = Arc::new(AtomicBool::new(false));
        let byte_count = Arc::new(AtomicU64::new(bytes));
        let thread = {
            let poisoned = poisoned.clone();
            let byte_count = byte_count.clone();
            std::thread::Builder::new()
                .name("postroom-log".into())
                .spawn(move || run_writer(path, file, receiver, poisoned, byte_count))
                .ok()
        };
        if thread.is_none() {
            poisoned.store(true, Ordering::SeqCst);
        }
        Self {
            sender: parking_lot::Mutex::new(sender),
            poisoned,
            bytes: byte_count,
            thread: parking_lot::Mutex::new(thread),
        }
    }

    /// Queues a record. The caller must hold the lock that orders the
    /// change it describes, so that the log order matches the apply order.
    pub fn append(&self, record: LogRecord) -> Ticket {
        if self.poisoned.load(Ordering::SeqCst) {
            return Ticket::Failed(StoreError::Poisoned);
        }
        let (done, receiver) = oneshot::channel();
        match self.sender.lock().send(Command::Append(record, done)) {
            Ok(()) => Ticket::Pending(receiver),
            Err(_) => Ticket::Failed(StoreError::Poisoned),
        }
    }

    pub fn rotate(&self, records: Vec<LogRecord>) {
        // A failed send means the thread is gone; the store is poisoned then.
        let _ = self.sender.lock().send(Command::Rotate(records));
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, receiver) = oneshot::channel();
        if self.sender.lock().send(Command::Flush(done)).is_err() {
            return Err(StoreError::Poisoned);
        }
        receiver.await.unwrap_or(Err(StoreError::Poisoned))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Stops the thread once it has written everything queued so far.
    pub fn shutdown(&self) {
        let (sender, _) = mpsc::channel();
        drop(std::mem::replace(&mut *self.sender.lock(), sender));
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn run_writer(
    path: PathBuf,
    file: File,
    receiver: mpsc::Receiver<Command>,
    poisoned: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
) {
    let mut file = file;
    let mut buffer = Vec::with_capacity(1 << 20);
    while let Ok(first) = receiver.recv() {
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(record, done) => match encode_record(&record, &mut buffer) {
                    Ok(()) => waiting.push(done),
                    Err(error) => {
                        tracing::error!(%error, "a change was not logged and is reported as failed");
                        let _ = done.send(Err(error));
                    }
                },
                Command::Flush(done) => waiting.push(done),
                Command::Rotate(records) => {
                    // Everything queued before the rotation belongs to the
                    // old file; write it first.
                    let result = write_and_sync(&mut file, &mut buffer, &bytes)
                        .and_then(|()| rotate_file(&path, &records))
                        .map(|(new_file, len)| {
                            file = new_file;
                            bytes.store(len, Ordering::Relaxed);
                        });
                    if let Err(error) = result {
                        tracing::error!(%error, "log compaction failed; the store stops accepting writes");
                        poisoned.store(true, Ordering::SeqCst);
                    }
                }
            }
            if buffer.len() < (8 << 20) {
                next = receiver.try_recv().ok();
            }
        }
        let result = if poisoned.load(Ordering::SeqCst) {
            Err(StoreError::Poisoned)
        } else {
            write_and_sync(&mut file, &mut buffer, &bytes)
        };
        if let Err(error) = &result {
            tracing::error!(%error, "writing the log failed; the store stops accepting writes");
            poisoned.store(true, Ordering::SeqCst);
        }
        for done in waiting {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(_) => Err(StoreError::Poisoned),
            });
        }
    }
    if let Err(error) = file.sync_all() {
        tracing::error!(%error, "final sync of the log failed");
    }
}

fn write_and_sync(file: &mut File, buffer: &mut Vec<u8>, bytes: &AtomicU64) -> Result<(), StoreError> {
    if buffer.is_empty() {
        return Ok(());
    }
    file.write_all(buffer).map_err(io_error)?;
    file.sync_data().map_err(io_error)?;
    bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
    buffer.clear();
    Ok(())
}

fn encode_record(record: &LogRecord, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
    let start = buffer.len();
    buffer.extend_from_slice(&[0u8; 8]);
    if let Err(error) = bincode::serialize_into(&mut *buffer, record) {
        buffer.truncate(start);
        return Err(StoreError::Io(format!("encoding a log record failed: {error}")));
    }
    let payload_len = (buffer.len() - start - 8) as u32;
    let crc = crc32fast::hash(&buffer[start + 8..]);
    buffer[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    buffer[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

/// Writes a new log made of `records` beside the current one, then moves it
/// into place. Returns the new file, positioned at its end, and its length.
fn rotate_file(path: &Path, records: &[LogRecord]) -> Result<(File, u64), StoreError> {
    let temporary = path.with_extension("log.compacting");
    let mut writer = BufWriter::new(File::create(&temporary).map_err(io_error)?);
    writer.write_all(MAGIC).map_err(io_error)?;
    writer.write_all(&FORMAT_VERSION.to_le_bytes()).map_err(io_error)?;
    let mut buffer = Vec::new();
    let mut len = HEADER_LEN;
    for record in records {
        buffer.clear();
        encode_record(record, &mut buffer)?;
        writer.write_all(&buffer).map_err(io_error)?;
        len += buffer.len() as u64;
    }
    let file = writer.into_inner().map_err(|error| io_error(error.into_error()))?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io_error)?;
    sync_directory(path)?;
    let mut file = OpenOptions::new().append(true).open(path).map_err(io_error)?;
    file.seek(SeekFrom::End(0)).map_err(io_error)?;
    Ok((file, len))
}

fn sync_directory(path: &Path) -> Result<(), StoreError> {
    if let Some(directory) = path.parent() {
        File::open(directory).and_then(|d| d.sync_all()).map_err(io_error)?;
    }
    Ok(())
}

/// Opens or creates the log and returns its records, with the file
/// positioned for appending after the last whole record.
pub(crate) fn open(path: &Path, mut apply: impl FnMut(LogRecord)) -> Result<(File, u64), StoreError> {
    let open_error = |error: std::io::Error| StoreError::Open(format!("{}: {error}", path.display()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(open_error)?;
    let len = file.metadata().map_err(open_error)?.len();
    if len < HEADER_LEN {
        file.set_len(0).map_err(open_error)?;
        file.write_all(MAGIC).map_err(open_error)?;
        file.write_all(&FORMAT_VERSION.to_le_bytes()).map_err(open_error)?;
        file.sync_all().map_err(open_error)?;
        sync_directory(path)?;
        return Ok((file, HEADER_LEN));
    }

    let mut reader = BufReader::with_capacity(1 << 20, &mut file);
    let mut header = [0u8; HEADER_LEN as usize];
    reader.read_exact(&mut header).map_err(open_error)?;
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

    let mut good_len = HEADER_LEN;
    let mut payload = Vec::new();
    loop {
        let mut frame = [0u8; 8];
        if reader.read_exact(&mut frame).is_err() {
            break;
        }
        let payload_len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if payload_len > MAX_RECORD_LEN {
            break;
        }
        payload.resize(payload_len as usize, 0);
        if reader.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        match bincode::deserialize::<LogRecord>(&payload) {
            Ok(record) => apply(record),
            Err(_) => break,
        }
        good_len += 8 + u64::from(payload_len);
    }
    drop(reader);

    if good_len < len {
        tracing::warn!(
            path = %path.display(),
            kept_bytes = good_len,
            dropped_bytes = len - good_len,
            "the log ends in an incomplete record, left by an interrupted write; truncating it"
        );
        file.set_len(good_len).map_err(open_error)?;
        file.sync_all().map_err(open_error)?;
    }
    file.seek(SeekFrom::Start(good_len)).map_err(open_error)?;
    Ok((file, good_len))
}
