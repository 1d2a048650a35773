//! Zeros written ahead of the log's appends by a background thread.
//!
//! A frame that lands on zeros already written to disk syncs its data and a
//! cache flush, and nothing else: the blocks are allocated and the file does
//! not grow. A request that finds no zeros ahead writes two mebibytes of
//! them itself, and its batch then writes and allocates them before its
//! `fdatasync` returns. In a busy log that happens every few milliseconds,
//! and each time every request of the batch waits about a millisecond
//! longer. Once a generation contains [`Policy::start_after`] bytes, this
//! thread writes the next stretch of zeros before the appends reach it, so
//! that no batch waits for them.
//!
//! The thread writes only the range of its job, which starts past every
//! zero reported before and past the zeros the writer has recorded. The writer puts no frame in that range
//! before the thread reports the zeros under it written, so zeros never
//! land on frames.

use super::log::ZEROS;
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Zeros written per call, and written back to the device before the
/// next, so that a batch's `fdatasync` never finds more than this much of
/// them dirty. Until the stretch's own sync, batch syncs still write the
/// file's new length and block allocations.
const PIECE_BYTES: usize = ZEROS.len();

/// When the thread writes zeros, and how many.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Bytes of a generation before the thread takes over from the
    /// requests, so that a small store keeps small files.
    pub start_after: u64,
    /// Zeros left ahead of the appends below which the next stretch starts.
    pub low_water: u64,
    /// Length of one stretch.
    pub stretch: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { start_after: 16 << 20, low_water: 8 << 20, stretch: 16 << 20 }
    }
}

/// A stretch of zeros to write.
#[derive(Clone)]
struct Job {
    generation: u32,
    path: PathBuf,
    from: u64,
    to: u64,
}

#[derive(Default)]
struct State {
    /// The stretch the thread is writing or about to write.
    job: Option<Job>,
    /// End of the zeros the thread has written back, with their
    /// generation. It moves a piece at a time.
    zeroed: Option<(u32, u64)>,
    /// Set to have the thread leave its stretch unfinished.
    abandon: bool,
    stop: bool,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Pieces the thread may still write while a test paces it.
    #[cfg(test)]
    pieces_allowed: Option<u32>,
}

impl State {
    /// `allocated`, moved up to the zeros the thread wrote in `generation`.
    fn allocated(&self, generation: u32, allocated: u64) -> u64 {
        match self.zeroed {
            Some((zeroed_generation, end)) if zeroed_generation == generation => allocated.max(end),
            _ => allocated,
        }
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The background writer of zeros for one log.
pub(crate) struct Preallocator {
    shared: Arc<Shared>,
    policy: Policy,
}

impl Preallocator {
    pub fn new(policy: Policy) -> Self {
        Preallocator { shared: Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() }), policy }
    }

    /// Readies the zeros for frames of `generation` that end at `end`,
    /// given that `allocated` bytes of the file are frames or zeros, and
    /// returns how many are now. When the frames reach into the stretch
    /// the thread writes, it waits until the thread has written that far
    /// or finished.
    pub fn reserve(&self, generation: u32, allocated: u64, end: u64) -> u64 {
        let mut state = self.shared.state.lock();
        while end > state.allocated(generation, allocated) && state.job.is_some() {
            self.shared.changed.wait(&mut state);
        }
        state.allocated(generation, allocated)
    }

    /// Starts the next stretch when fewer than [`Policy::low_water`] zeros
    /// are left ahead of `end`, once `end` has passed
    /// [`Policy::start_after`].
    pub fn top_up(&self, generation: u32, path: impl FnOnce() -> PathBuf, allocated: u64, end: u64) {
        if end < self.policy.start_after || allocated.saturating_sub(end) >= self.policy.low_water {
            return;
        }
        let mut state = self.shared.state.lock();
        if state.job.is_some() || state.stop {
            return;
        }
        // The stretch starts past every zero already reported, which may
        // be beyond `allocated` when a stretch finished after the writer's
        // `reserve`. Frames may already lie below that point.
        let from = state.allocated(generation, allocated);
        state.job = Some(Job { generation, path: path(), from, to: from + self.policy.stretch });
        state.abandon = false;
        if state.thread.is_none() {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new().name("postroom-zeros".into()).spawn(move || run(&shared));
            match spawned {
                Ok(thread) => state.thread = Some(thread),
                Err(error) => {
                    // The requests keep writing their zeros themselves.
                    tracing::warn!(%error, "starting the thread that preallocates the log failed");
                    state.job = None;
                    state.stop = true;
                    return;
                }
            }
        }
        self.shared.changed.notify_all();
    }

    /// Has the thread leave its stretch, and waits until it has. A new
    /// generation starts with zeros of its own.
    pub fn settle(&self) {
        let mut state = self.shared.state.lock();
        state.abandon = true;
        self.shared.changed.notify_all();
        while state.job.is_some() {
            self.shared.changed.wait(&mut state);
        }
        state.zeroed = None;
    }

    /// End of the zeros the thread has written, with their generation.
    #[cfg(test)]
    pub fn zeroed(&self) -> Option<(u32, u64)> {
        self.shared.state.lock().zeroed
    }

    /// Stops the thread once the piece or sync it runs has returned.
    pub fn stop(&self) {
        let thread = {
            let mut state = self.shared.state.lock();
            state.stop = true;
            state.abandon = true;
            self.shared.changed.notify_all();
            state.thread.take()
        };
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Preallocator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the thread: writes each stretch it is given until stopped.
fn run(shared: &Shared) {
    let _exit = Exit(shared);
    loop {
        let job = {
            let mut state = shared.state.lock();
            loop {
                if state.stop {
                    // The writer waits on no job once the log stops.
                    state.job = None;
                    shared.changed.notify_all();
                    return;
                }
                if let Some(job) = &state.job {
                    break job.clone();
                }
                shared.changed.wait(&mut state);
            }
        };
        let written = write_stretch(shared, &job);
        let mut state = shared.state.lock();
        if let Err(error) = written {
            // The zeros only save time: the requests write their own from
            // here on. A failed writeback also fails the log's next sync,
            // which stops the store.
            tracing::warn!(path = %job.path.display(), %error, "preallocating the log failed");
            state.stop = true;
        }
        state.job = None;
        shared.changed.notify_all();
    }
}

/// Clears the job and stops the thread when it ends, by a panic too, so
/// that no writer waits for a stretch that will never be written.
struct Exit<'a>(&'a Shared);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.stop = true;
        state.job = None;
        self.0.changed.notify_all();
    }
}

/// Writes the zeros of a job a piece at a time, each on the device before
/// the next. Unless the stretch is abandoned, it then syncs the file so
/// that the blocks and the length are durable.
///
/// The zeros go through a descriptor of its own. Linux, since 4.13,
/// reports a failed writeback once per open file description, so the log's
/// own sync still sees a failure that this one also found.
fn write_stretch(shared: &Shared, job: &Job) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(&job.path)?;
    let mut offset = job.from;
    while offset < job.to {
        let state = shared.state.lock();
        #[cfg(test)]
        let state = hold_back(shared, state);
        if state.abandon {
            return Ok(());
        }
        drop(state);
        let len = (job.to - offset).min(PIECE_BYTES as u64);
        file.write_all_at(&ZEROS[..len as usize], offset)?;
        write_back(&file, offset, len)?;
        offset += len;
        let mut state = shared.state.lock();
        if !state.abandon {
            debug_assert!(
                state.allocated(job.generation, 0) <= offset,
                "reported zeros of a generation only grow"
            );
            state.zeroed = Some((job.generation, offset));
            shared.changed.notify_all();
        }
    }
    file.sync_data()
}

/// Waits until the test allows another piece, and counts it.
#[cfg(test)]
fn hold_back<'a>(
    shared: &Shared,
    mut state: parking_lot::MutexGuard<'a, State>,
) -> parking_lot::MutexGuard<'a, State> {
    while state.pieces_allowed == Some(0) && !state.abandon {
        shared.changed.wait(&mut state);
    }
    if let Some(allowed) = &mut state.pieces_allowed {
        *allowed = allowed.saturating_sub(1);
    }
    state
}

/// Writes a range of the file back to the device and waits for it, without
/// a cache flush.
#[cfg(target_os = "linux")]
fn write_back(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: the descriptor is open for the whole call, and the call reads
    // and writes no memory of this process.
    #[allow(unsafe_code)]
    let result = unsafe { libc::sync_file_range(file.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, flags) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn write_back(file: &File, _offset: u64, _len: u64) -> std::io::Result<()> {
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    const PIECE: u64 = PIECE_BYTES as u64;

    /// Starts a preallocator whose thread writes a stretch of four pieces
    /// into a new file, one piece each time the test allows it.
    fn held_back() -> (tempfile::TempDir, PathBuf, Arc<Preallocator>) {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("log");
        File::create(&path).expect("create");
        let zeros = Preallocator::new(Policy { start_after: 0, low_water: 1, stretch: 4 * PIECE });
        zeros.shared.state.lock().pieces_allowed = Some(0);
        zeros.top_up(1, || path.clone(), 0, 0);
        (directory, path, Arc::new(zeros))
    }

    fn allow(zeros: &Preallocator, pieces: u32) {
        zeros.shared.state.lock().pieces_allowed = Some(pieces);
        zeros.shared.changed.notify_all();
    }

    #[test]
    fn frames_wait_for_the_zeros_under_them() {
        let (_directory, path, zeros) = held_back();
        let (sender, receiver) = mpsc::channel();
        let waiting = zeros.clone();
        std::thread::spawn(move || sender.send(waiting.reserve(1, 0, PIECE + 1)));

        // Blocking cannot be observed directly: a short wait has to do.
        let short = Duration::from_millis(50);
        assert!(receiver.recv_timeout(short).is_err(), "no zeros are written yet");
        allow(&zeros, 1);
        assert!(receiver.recv_timeout(short).is_err(), "one piece does not cover the frames");
        allow(&zeros, 1);
        let allocated = receiver.recv_timeout(Duration::from_secs(10)).expect("the second piece covers them");
        assert_eq!(allocated, 2 * PIECE);

        allow(&zeros, 2);
        assert_eq!(zeros.reserve(1, 0, 4 * PIECE), 4 * PIECE);
        let written = std::fs::read(&path).expect("read");
        assert_eq!(written.len() as u64, 4 * PIECE);
        assert!(written.iter().all(|byte| *byte == 0));
    }

    #[test]
    fn settle_leaves_the_stretch_unfinished() {
        let (_directory, path, zeros) = held_back();
        allow(&zeros, 1);
        assert_eq!(zeros.reserve(1, 0, PIECE), PIECE);
        // The thread waits for a second piece that is never allowed.
        zeros.settle();
        assert_eq!(zeros.zeroed(), None);
        assert_eq!(zeros.reserve(1, 0, 2 * PIECE), 0, "no stretch runs, so nothing is waited for");
        assert_eq!(std::fs::metadata(&path).expect("metadata").len(), PIECE);
    }

    #[test]
    fn next_stretch_starts_past_reported_zeros() {
        let (_directory, path, zeros) = held_back();
        allow(&zeros, 4);
        // Waits for the whole stretch: it ends at four pieces.
        assert_eq!(zeros.reserve(1, 0, 4 * PIECE + 1), 4 * PIECE);

        // A writer whose `allocated` predates that report must not have
        // the next stretch rewrite the zeros that frames may now cover.
        zeros.top_up(1, || path.clone(), PIECE, PIECE);
        let from = zeros.shared.state.lock().job.as_ref().map(|job| job.from);
        assert_eq!(from, Some(4 * PIECE));
        zeros.stop();
    }

    #[test]
    fn failed_stretch_leaves_zeros_to_writer() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let zeros = Preallocator::new(Policy { start_after: 0, low_water: 1, stretch: 4 * PIECE });
        // The file does not exist, so the thread fails to open it.
        zeros.top_up(1, || directory.path().join("missing"), 0, 0);

        assert_eq!(zeros.reserve(1, 0, PIECE), 0, "the writer writes its own zeros");
        assert!(zeros.shared.state.lock().stop, "the thread is off after a failure");
        zeros.top_up(1, || unreachable!("no job starts once the thread is off"), 0, 0);
    }

    #[test]
    fn another_generation_gets_none_of_the_zeros() {
        let (_directory, _path, zeros) = held_back();
        allow(&zeros, 4);
        assert_eq!(zeros.reserve(1, 0, 4 * PIECE), 4 * PIECE);
        assert_eq!(zeros.reserve(2, 100, 50), 100);
        zeros.stop();
        zeros.top_up(1, || unreachable!("no job starts after a stop"), 0, 0);
    }
}
