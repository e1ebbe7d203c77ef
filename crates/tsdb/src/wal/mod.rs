//! The write-ahead log: numbered segment files of framed records, each frame
//! `u32 length | u32 crc32c | payload`. A write is acknowledged only once its frame is
//! written and (with [`WalSync::Always`]) fsynced. Group commit keeps that fast:
//! appenders queue their encoded frames; whichever finds no write in progress becomes
//! the leader, writes everything queued with one `write` and one `fdatasync`, and wakes
//! the others. A checkpoint (the series and metadata still live in the head) lets the
//! segments whose samples are already in blocks be deleted.
//!
//! Segments are preallocated: the file is extended with zeros [`PREALLOC_STEP`] at a
//! time ahead of its records, so most syncs flush only data. An `fdatasync` that must
//! also commit a new file size and newly allocated blocks costs about twice as much on
//! ext4. A frame never starts with zero bytes (its length is not zero), so a reader
//! takes zeros running to the end of a segment as its clean end; zeros followed by
//! anything else are damage. A segment's zero tail is cut when it is rotated, on
//! [`Wal::sync`], and on replay after a crash, so finished segments hold records only.

mod reader;
pub mod record;

pub use reader::{replay, ReplayStats};

use parking_lot::{Condvar, Mutex};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Segments are rotated beyond this size so a checkpoint can free old ones.
const SEGMENT_BYTES: u64 = 128 << 20;
/// How far a segment is extended with zeros when its records reach the end of the
/// zeros: one costly sync per this many bytes of records, and at most this many
/// bytes of zeros on disk beyond the live segment's records.
const PREALLOC_STEP: u64 = 8 << 20;
const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// When the WAL syncs to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalSync {
    /// fsync before acknowledging each write (shared by concurrent writers).
    #[default]
    Always,
    /// Never fsync on the write path: an OS crash or power loss (not a process crash)
    /// can lose the last acknowledged writes. For benchmarks and throwaway data.
    Off,
}

/// Appends one frame for `payload` to `out`.
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

struct Queue {
    pending: Vec<u8>,
    /// Sequence number of the last frame queued.
    queued: u64,
    /// Every frame up to this sequence number is durable.
    synced: u64,
    writing: bool,
    /// A failed write leaves the segment in an unknown state: refuse all later writes.
    failed: Option<String>,
}

struct Segment {
    file: File,
    index: u64,
    /// Bytes of frames written.
    bytes: u64,
    /// Length of the file: the frames, then zeros written ahead of them.
    allocated: u64,
}

/// What zeros are written from.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

impl Segment {
    /// Writes `data` after the frames already written, preallocating first if it
    /// reaches past the zeros.
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let end = self.bytes + data.len() as u64;
        if end > self.allocated {
            self.preallocate(end);
        }
        self.file.write_all_at(data, self.bytes)?;
        self.bytes = end;
        self.allocated = self.allocated.max(end);
        Ok(())
    }

    /// Extends the file with zeros to [`PREALLOC_STEP`] past its current length (at
    /// least to `end`, at most to [`SEGMENT_BYTES`] unless `end` is beyond). Failing
    /// (a full disk, say) only costs speed: the zeros written are cut off again and
    /// the frames are appended to the file as it was.
    fn preallocate(&mut self, end: u64) {
        let target = end.max((self.allocated + PREALLOC_STEP).min(SEGMENT_BYTES));
        let from = self.allocated.max(end);
        if let Err(e) = write_zeros(&self.file, from, target) {
            tracing::warn!(segment = self.index, error = %e, "WAL preallocation failed");
            if let Err(e) = self.file.set_len(self.allocated) {
                tracing::warn!(segment = self.index, error = %e, "WAL preallocation not undone");
            }
            return;
        }
        self.allocated = target;
    }

    /// Cuts the zeros beyond the frames, for a segment no longer written to (or not
    /// for a while).
    fn trim(&mut self) -> io::Result<()> {
        if self.allocated > self.bytes {
            self.file.set_len(self.bytes)?;
            self.allocated = self.bytes;
        }
        Ok(())
    }
}

fn write_zeros(file: &File, mut from: u64, to: u64) -> io::Result<()> {
    while from < to {
        let n = (to - from).min(ZEROS.len() as u64) as usize;
        file.write_all_at(&ZEROS[..n], from)?;
        from += n as u64;
    }
    Ok(())
}

pub struct Wal {
    dir: PathBuf,
    sync: WalSync,
    queue: Mutex<Queue>,
    synced_cv: Condvar,
    segment: Mutex<Segment>,
    /// Bytes in live segments (for stats).
    size: AtomicU64,
}

impl Wal {
    /// Opens the WAL for writing in a fresh segment after every existing one, so a
    /// replayed (possibly repaired) segment is never appended to.
    pub fn open(dir: &Path, sync: WalSync) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        // A checkpoint interrupted before its rename is incomplete: drop it.
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(&path)?;
            }
        }
        let segments = list_segments(dir)?;
        let next = segments.last().map_or(1, |(i, _)| i + 1);
        let size = segments
            .iter()
            .filter_map(|(_, p)| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let segment = create_segment(dir, next)?;
        Ok(Wal {
            dir: dir.to_owned(),
            sync,
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                queued: 0,
                synced: 0,
                writing: false,
                failed: None,
            }),
            synced_cv: Condvar::new(),
            segment: Mutex::new(segment),
            size: AtomicU64::new(size),
        })
    }

    /// Queues framed bytes without waiting; they are written with the next group.
    /// Returns their sequence number for [`Wal::wait`].
    pub fn enqueue(&self, frames: &[u8]) -> u64 {
        let mut q = self.queue.lock();
        q.pending.extend_from_slice(frames);
        q.queued += 1;
        q.queued
    }

    /// Queues framed bytes and returns once they are durable.
    pub fn write(&self, frames: &[u8]) -> io::Result<()> {
        let seq = self.enqueue(frames);
        self.wait(seq)
    }

    /// Waits until frame `seq` is durable, leading a group write if none is running.
    pub fn wait(&self, seq: u64) -> io::Result<()> {
        let mut q = self.queue.lock();
        loop {
            if let Some(e) = &q.failed {
                return Err(io::Error::other(format!(
                    "WAL unusable after a write error: {e}"
                )));
            }
            if q.synced >= seq {
                return Ok(());
            }
            if q.writing {
                self.synced_cv.wait(&mut q);
                continue;
            }
            q.writing = true;
            let batch = std::mem::take(&mut q.pending);
            let upto = q.queued;
            drop(q);
            let result = self.write_group(&batch);
            q = self.queue.lock();
            q.writing = false;
            match result {
                Ok(()) => q.synced = upto,
                Err(e) => q.failed = Some(e.to_string()),
            }
            // Give the buffer's capacity back for the next group.
            if q.pending.is_empty() {
                let mut batch = batch;
                batch.clear();
                q.pending = batch;
            }
            self.synced_cv.notify_all();
        }
    }

    fn write_group(&self, batch: &[u8]) -> io::Result<()> {
        let mut seg = self.segment.lock();
        if seg.bytes > 0 && seg.bytes + batch.len() as u64 > SEGMENT_BYTES {
            self.rotate_locked(&mut seg)?;
        }
        seg.append(batch)?;
        self.size.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if self.sync == WalSync::Always {
            seg.file.sync_data()?;
        }
        Ok(())
    }

    fn rotate_locked(&self, seg: &mut Segment) -> io::Result<()> {
        seg.trim()?;
        seg.file.sync_all()?;
        *seg = create_segment(&self.dir, seg.index + 1)?;
        Ok(())
    }

    /// Makes everything queued durable and starts a new segment; returns the new
    /// segment's index. Every frame queued before the call is in an older segment.
    pub fn cut_segment(&self) -> io::Result<u64> {
        let seq = self.queue.lock().queued;
        self.wait(seq)?;
        let mut seg = self.segment.lock();
        self.rotate_locked(&mut seg)?;
        Ok(seg.index)
    }

    /// Writes a checkpoint holding `records` (framed) that replaces every segment before
    /// `first_kept`, then deletes those segments and older checkpoints.
    pub fn checkpoint(&self, first_kept: u64, frames: &[u8]) -> io::Result<()> {
        let name = format!("{CHECKPOINT_PREFIX}{first_kept:08}");
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(frames)?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(&name))?;
        sync_dir(&self.dir)?;
        for (index, path) in list_segments(&self.dir)? {
            if index < first_kept {
                let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&path)?;
                self.size.fetch_sub(
                    len.min(self.size.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            }
        }
        for (index, path) in list_checkpoints(&self.dir)? {
            if index < first_kept {
                fs::remove_file(path)?;
            }
        }
        sync_dir(&self.dir)
    }

    /// Bytes in the WAL's segments.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Flushes and syncs everything queued, and cuts the current segment's zeros
    /// (used on close).
    pub fn sync(&self) -> io::Result<()> {
        let seq = self.queue.lock().queued;
        self.wait(seq)?;
        let mut seg = self.segment.lock();
        seg.trim()?;
        seg.file.sync_all()
    }
}

/// A new, empty segment. It is preallocated at its first write, not here: a WAL left
/// idle after a flush takes no space.
fn create_segment(dir: &Path, index: u64) -> io::Result<Segment> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(format!("{index:08}")))?;
    sync_dir(dir)?;
    Ok(Segment {
        file,
        index,
        bytes: 0,
        allocated: 0,
    })
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Segment files (`00000001`, …) in index order.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    list_numbered(dir, "")
}

/// Checkpoint files (`checkpoint.00000005`) in index order.
pub(crate) fn list_checkpoints(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    list_numbered(dir, CHECKPOINT_PREFIX)
}

fn list_numbered(dir: &Path, prefix: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name.strip_prefix(prefix) else {
            continue;
        };
        if digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()) {
            out.push((digits.parse().unwrap_or(0), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}
