//! [`Tsdb`]: the store as a whole. It owns the WAL, the head and the blocks, runs the
//! background maintenance (head cuts, compaction, retention) and answers the core's
//! `Appender` and `Querier` traits.
//!
//! Write path: resolve series in the head (new ones are logged to the WAL before anyone
//! can reference them), log the samples, wait for the group fsync, then add them to the
//! head. A cut freezes the head's samples under an exclusive lock (and starts a new WAL
//! segment at the same instant), writes them as blocks, drops the series left without
//! samples from the head, then checkpoints the WAL (the live series and metadata) so its
//! older segments can go: after a flush with no writes since, the WAL is nearly empty.
//! Queries merge blocks (by write sequence), frozen heads being written, and the head,
//! later writes winning. A block that cannot be opened is moved to `quarantine/`.

mod append;
mod discovery;
mod maintenance;
mod query;

/// A store for the read path's unit tests: no WAL sync, retention or maintenance.
#[cfg(test)]
fn open_for_test(dir: &Path) -> Tsdb {
    let opts = Options {
        wal_sync: crate::WalSync::Off,
        retention: None,
        maintenance_interval: Duration::from_secs(3600),
        ..Options::default()
    };
    Tsdb::open(dir, opts).unwrap()
}

use crate::block::{series_order, write_block, writer::NewBlock, Block, BLOCK_NAME_DIGITS};
use crate::compaction;
use crate::head::{shard_of, FrozenSeries, Head, HeadSample, SHARDS};
use crate::merge::merge_last_wins;
use crate::retention;
use crate::wal::{self, record, Wal, WalSync};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_core::{
    AppendStats, Appender, Labels, Matcher, MetricMetadata, Point, Querier, Series, StorageError,
    TimeRange, WriteBatch,
};

/// How the store behaves; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct Options {
    /// Blocks entirely older than this are dropped; `None` keeps data forever.
    /// Default 90 days (`METRICS_WARM_STORAGE_RETENTION`; the server maps `0` to `None`).
    pub retention: Option<Duration>,
    pub wal_sync: WalSync,
    /// How often the head is cut into blocks (default 2h). A cut writes one block per
    /// aligned 6x window its samples fall in; compaction merges the blocks of a closed
    /// 6x window, then of a 36x one.
    pub block_duration: Duration,
    /// New series beyond this many in the head are refused with back-pressure.
    pub max_head_series: usize,
    /// The head is cut early beyond this many samples, and writes are refused with
    /// back-pressure beyond twice as many (the cut is not keeping up).
    pub max_head_samples: u64,
    /// Likewise for out-of-order samples, which the head keeps uncompressed.
    pub max_head_ooo_samples: u64,
    /// How often the background thread looks for work.
    pub maintenance_interval: Duration,
    /// How often retention is applied (the spec asks for within an hour of expiry).
    pub retention_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            wal_sync: WalSync::Always,
            block_duration: Duration::from_secs(2 * 3600),
            max_head_series: 5_000_000,
            max_head_samples: 400_000_000,
            max_head_ooo_samples: 16_000_000,
            maintenance_interval: Duration::from_secs(5),
            retention_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// A snapshot of the store's figures, for `/metrics` and the health endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TsdbStats {
    /// Series in the head (those with samples since the previous cut).
    pub head_series: u64,
    pub head_samples: u64,
    /// Of which out of order (kept uncompressed until the next cut).
    pub head_ooo_samples: u64,
    pub head_min_t: Option<i64>,
    pub head_max_t: Option<i64>,
    pub blocks: u64,
    pub block_samples: u64,
    /// Bytes on disk of all blocks.
    pub block_bytes: u64,
    /// Bytes in the WAL's live segments.
    pub wal_bytes: u64,
    /// WAL files whose damaged tail was cut off at the last open.
    pub wal_corruptions_repaired: u64,
    pub wal_replayed_records: u64,
    /// Replayed samples whose series record was lost with a damaged WAL tail.
    pub wal_replay_unknown_series: u64,
    /// Since open.
    pub samples_appended: u64,
    pub series_created: u64,
    /// Head cuts whose blocks are written.
    pub head_cuts: u64,
    pub compactions: u64,
    pub compaction_seconds_total: f64,
    pub last_compaction_seconds: f64,
    pub blocks_dropped_by_retention: u64,
    /// Failed background cuts, compactions or retention passes (retried).
    pub maintenance_errors: u64,
    /// Damaged blocks moved to `<data>/quarantine/` at the last open.
    pub blocks_quarantined: u64,
}

#[derive(Default)]
struct Counters {
    wal_corruptions_repaired: AtomicU64,
    wal_replayed_records: AtomicU64,
    wal_replay_unknown_series: AtomicU64,
    samples_appended: AtomicU64,
    series_created: AtomicU64,
    head_cuts: AtomicU64,
    compactions: AtomicU64,
    compaction_micros_total: AtomicU64,
    last_compaction_micros: AtomicU64,
    blocks_dropped_by_retention: AtomicU64,
    maintenance_errors: AtomicU64,
    blocks_quarantined: AtomicU64,
}

/// Head samples taken out by a cut, readable until their blocks are in place.
struct Frozen {
    series: Vec<FrozenSeries>,
    seq: u64,
    /// The first WAL segment not needed once these are in blocks.
    first_kept_segment: u64,
}

impl Frozen {
    /// The series matching every one of `matchers` (a frozen head has no index: it lives
    /// only until its blocks are written).
    fn matching<'a>(&'a self, matchers: &'a [Matcher]) -> impl Iterator<Item = &'a FrozenSeries> {
        self.series
            .iter()
            .filter(|s| Matcher::all_match(matchers, &s.labels))
    }
}

#[derive(Default)]
struct Readable {
    /// Sorted by write sequence, oldest first.
    blocks: Arc<Vec<Arc<Block>>>,
    frozen: Vec<Arc<Frozen>>,
}

struct Inner {
    /// Held open for the store's life: its lock keeps a second process out.
    _dir_lock: DirLock,
    blocks_dir: PathBuf,
    options: Options,
    wal: Wal,
    head: Head,
    /// Appenders and head readers share it; a cut takes it exclusively to freeze the head.
    cut_lock: RwLock<()>,
    /// One cut, compaction or retention pass at a time.
    maintenance: Mutex<()>,
    readable: RwLock<Readable>,
    metadata: RwLock<HashMap<String, MetricMetadata>>,
    next_seq: AtomicU64,
    next_block_id: AtomicU64,
    last_cut_ms: AtomicI64,
    counters: Counters,
    stop: Mutex<bool>,
    wake: Condvar,
    /// A read met head series without a place in label order: the maintenance thread
    /// places them (see [`Head::rank_series`]) when it next wakes.
    ranks_wanted: AtomicBool,
}

/// The embedded store. `Send + Sync`; share it in an `Arc`.
pub struct Tsdb {
    inner: Arc<Inner>,
    background: Option<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`: loads blocks (moving damaged ones to
    /// `<dir>/quarantine/`), replays the WAL into the head, and starts the background
    /// maintenance thread.
    pub fn open(dir: &Path, options: Options) -> Result<Tsdb, StorageError> {
        let blocks_dir = dir.join("blocks");
        let wal_dir = dir.join("wal");
        let quarantine_dir = dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&blocks_dir)?;
        fs::create_dir_all(&wal_dir)?;
        let dir_lock = DirLock::acquire(dir)?;
        let (blocks, quarantined) = load_blocks(&blocks_dir, &quarantine_dir)?;
        let next_seq = blocks
            .iter()
            .map(|b| b.meta().seq)
            .max()
            .map_or(1, |s| s + 1);
        let next_block_id = next_block_id(&blocks, &quarantine_dir)?;

        let head = Head::new();
        let counters = Counters::default();
        counters
            .blocks_quarantined
            .store(quarantined, Ordering::Relaxed);
        let mut metadata = HashMap::new();
        // A series dropped by a cut whose checkpoint then failed is in the WAL under its
        // old id and the fresh one it got next: both ids lead to one head series.
        let mut aliases: HashMap<u64, u64> = HashMap::new();
        let replay = wal::replay(&wal_dir, |r| match r {
            record::Record::Series(series) => {
                for (id, labels) in series {
                    aliases.remove(&id);
                    match head_id(&head, &labels) {
                        Some(known) if known != id => {
                            aliases.insert(id, known);
                        }
                        _ => head.replay_series(id, labels),
                    }
                }
            }
            record::Record::Samples(samples) => {
                for s in samples {
                    let id = aliases.get(&s.id).copied().unwrap_or(s.id);
                    if !head.replay_sample(id, s.t, s.v) {
                        counters
                            .wal_replay_unknown_series
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            record::Record::Metadata(ms) => {
                for m in ms {
                    metadata.insert(m.metric.clone(), m);
                }
            }
        })?;
        counters
            .wal_corruptions_repaired
            .store(replay.corruptions_repaired, Ordering::Relaxed);
        counters
            .wal_replayed_records
            .store(replay.records, Ordering::Relaxed);
        tracing::info!(
            blocks = blocks.len(),
            head_series = head.num_series(),
            head_samples = head.num_samples(),
            wal_records = replay.records,
            "tsdb opened"
        );

        let inner = Arc::new(Inner {
            _dir_lock: dir_lock,
            blocks_dir,
            wal: Wal::open(&wal_dir, options.wal_sync)?,
            options,
            head,
            cut_lock: RwLock::new(()),
            maintenance: Mutex::new(()),
            readable: RwLock::new(Readable {
                blocks: Arc::new(blocks),
                frozen: Vec::new(),
            }),
            metadata: RwLock::new(metadata),
            next_seq: AtomicU64::new(next_seq),
            next_block_id: AtomicU64::new(next_block_id),
            last_cut_ms: AtomicI64::new(now_ms()),
            counters,
            stop: Mutex::new(false),
            wake: Condvar::new(),
            ranks_wanted: AtomicBool::new(false),
        });
        let bg = inner.clone();
        let background = std::thread::Builder::new()
            .name("tsdb-maintenance".into())
            .spawn(move || bg.maintenance_loop())?;
        Ok(Tsdb {
            inner,
            background: Some(background),
        })
    }

    /// Cuts the whole head into blocks now and syncs them (admin flush, backups, benchmarks).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.inner.cut()
    }

    pub fn stats(&self) -> TsdbStats {
        let i = &self.inner;
        let c = &i.counters;
        let blocks = i.readable.read().blocks.clone();
        let bounds = i.head.bounds();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TsdbStats {
            head_series: i.head.num_series() as u64,
            head_samples: i.head.num_samples(),
            head_ooo_samples: i.head.num_ooo_samples(),
            head_min_t: bounds.map(|b| b.0),
            head_max_t: bounds.map(|b| b.1),
            blocks: blocks.len() as u64,
            block_samples: blocks.iter().map(|b| b.meta().num_samples).sum(),
            block_bytes: blocks.iter().map(|b| b.size_bytes()).sum(),
            wal_bytes: i.wal.size(),
            wal_corruptions_repaired: load(&c.wal_corruptions_repaired),
            wal_replayed_records: load(&c.wal_replayed_records),
            wal_replay_unknown_series: load(&c.wal_replay_unknown_series),
            samples_appended: load(&c.samples_appended),
            series_created: load(&c.series_created),
            head_cuts: load(&c.head_cuts),
            compactions: load(&c.compactions),
            compaction_seconds_total: load(&c.compaction_micros_total) as f64 / 1e6,
            last_compaction_seconds: load(&c.last_compaction_micros) as f64 / 1e6,
            blocks_dropped_by_retention: load(&c.blocks_dropped_by_retention),
            maintenance_errors: load(&c.maintenance_errors),
            blocks_quarantined: load(&c.blocks_quarantined),
        }
    }

    /// Runs one compaction pass now (compaction also runs in the background); returns
    /// how many merges it did.
    pub fn compact(&self) -> Result<usize, StorageError> {
        let mut n = 0;
        while self.inner.compact_once()? {
            n += 1;
        }
        Ok(n)
    }

    /// Applies retention now (it also runs in the background); returns blocks dropped.
    pub fn apply_retention(&self) -> Result<usize, StorageError> {
        self.inner.apply_retention(now_ms())
    }

    /// Stops the background thread and syncs the WAL. Unflushed head data stays in
    /// the WAL and is replayed on the next open.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StorageError> {
        let Some(bg) = self.background.take() else {
            return Ok(());
        };
        *self.inner.stop.lock() = true;
        self.inner.wake.notify_all();
        if bg.join().is_err() {
            tracing::error!("tsdb maintenance thread panicked");
        }
        self.inner.wal.sync()?;
        Ok(())
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "closing tsdb");
        }
    }
}

/// The id the head holds `labels` under, if any.
fn head_id(head: &Head, labels: &Labels) -> Option<u64> {
    let hash = labels.hash64();
    let mut id = [0];
    // A limit of zero series creates none: this only looks up.
    head.resolve(shard_of(hash), &[(hash, labels)], &mut id, 0, |_| {})
        .ok()
        .map(|_| id[0])
}

/// An exclusive advisory lock on `<dir>/lock`, released when dropped (or when the
/// process dies): two stores writing one directory would corrupt each other.
struct DirLock {
    _file: fs::File,
}

impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock, StorageError> {
        use std::os::fd::AsRawFd;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(StorageError::Other(format!(
                "data directory {} is in use by another process ({})",
                dir.display(),
                std::io::Error::last_os_error()
            )));
        }
        Ok(DirLock { _file: file })
    }
}

/// Where blocks that cannot be opened are moved, for an operator to inspect.
const QUARANTINE_DIR: &str = "quarantine";

/// Opens every block under `dir`, removing unfinished (`.tmp`) ones and inputs of a
/// compaction whose result is already in place, and moving damaged ones to
/// `quarantine`; returns the blocks and how many were quarantined.
fn load_blocks(dir: &Path, quarantine: &Path) -> Result<(Vec<Arc<Block>>, u64), StorageError> {
    let mut blocks = Vec::new();
    let mut quarantined = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(crate::block::TMP_SUFFIX) || name.ends_with(crate::block::DELETED_SUFFIX)
        {
            tracing::warn!(block = name, "removing unfinished or half-deleted block");
            fs::remove_dir_all(&path)?;
        } else if path.is_dir() {
            match Block::open(&path) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(e) if is_damage(&e) => {
                    let to = quarantine_block(&path, quarantine)?;
                    tracing::error!(
                        block = name,
                        error = %e,
                        moved_to = %to.display(),
                        "damaged block quarantined; opening without it"
                    );
                    quarantined += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let replaced: HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compacted_from.clone())
        .collect();
    for b in blocks.iter().filter(|b| replaced.contains(b.name())) {
        tracing::info!(
            block = b.name(),
            "removing block already compacted into another"
        );
        crate::block::delete_block_dir(b.dir())?;
    }
    blocks.retain(|b| !replaced.contains(b.name()));
    sort_blocks(&mut blocks);
    Ok((blocks, quarantined))
}

/// Whether a block failed to open because its own files are damaged or missing (as
/// opposed to the system failing us, or a format this build does not know).
fn is_damage(e: &StorageError) -> bool {
    match e {
        StorageError::Corrupt(_) => true,
        StorageError::Io(e) => matches!(
            e.kind(),
            std::io::ErrorKind::NotFound
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    }
}

/// Moves block directory `dir` into `quarantine` (under a fresh name if one is taken).
fn quarantine_block(dir: &Path, quarantine: &Path) -> Result<PathBuf, StorageError> {
    fs::create_dir_all(quarantine)?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let mut to = quarantine.join(&*name);
    let mut n = 1;
    while to.exists() {
        to = quarantine.join(format!("{name}.{n}"));
        n += 1;
    }
    fs::rename(dir, &to)?;
    wal::sync_dir(quarantine)?;
    if let Some(parent) = dir.parent() {
        wal::sync_dir(parent)?;
    }
    Ok(to)
}

/// The number for the next block's name: past every name in use, quarantined, or named
/// as a compaction input (a new block under such a name would be taken for a leftover
/// input and deleted).
fn next_block_id(blocks: &[Arc<Block>], quarantine: &Path) -> Result<u64, StorageError> {
    let mut names: Vec<String> = blocks
        .iter()
        .flat_map(|b| std::iter::once(b.name().to_owned()).chain(b.meta().compacted_from.clone()))
        .collect();
    if quarantine.is_dir() {
        for entry in fs::read_dir(quarantine)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names
        .iter()
        .filter_map(|n| n.split('.').next()?.parse::<u64>().ok())
        .max()
        .map_or(1, |n| n + 1))
}

fn sort_blocks(blocks: &mut [Arc<Block>]) {
    blocks.sort_by(|a, b| {
        (a.meta().seq, a.meta().min_t, a.name()).cmp(&(b.meta().seq, b.meta().min_t, b.name()))
    });
}
