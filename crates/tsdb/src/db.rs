//! [`Tsdb`]: the store as a whole. It owns the WAL, the head and the blocks, runs the
//! background maintenance (head cuts, compaction, retention) and answers the core's
//! `Appender` and `Querier` traits.
//!
//! Write path: resolve series in the head (new ones are logged to the WAL before anyone
//! can reference them), log the samples, wait for the group fsync, then add them to the
//! head. A cut freezes the head's samples under an exclusive lock (and starts a new WAL
//! segment at the same instant), writes them as blocks, then checkpoints the WAL so its
//! older segments can go. Queries merge blocks (by write sequence), frozen heads being
//! written, and the head, later writes winning.

use crate::block::{cmp_labels, write_block, writer::NewBlock, Block, BLOCK_NAME_DIGITS};
use crate::compaction;
use crate::head::{shard_of, FrozenSeries, Head, HeadSample, SHARDS};
use crate::merge::merge_last_wins;
use crate::retention;
use crate::wal::{self, record, Wal, WalSync};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Time span of the blocks cut from the head (default 2h); compaction merges them
    /// into 6x and 36x spans.
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
    pub head_series: u64,
    pub head_samples: u64,
    pub head_ooo_samples: u64,
    pub head_min_t: Option<i64>,
    pub head_max_t: Option<i64>,
    pub blocks: u64,
    pub block_samples: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    pub wal_corruptions_repaired: u64,
    pub wal_replayed_records: u64,
    /// Replayed samples whose series record was lost with a damaged WAL tail.
    pub wal_replay_unknown_series: u64,
    pub samples_appended: u64,
    pub series_created: u64,
    pub head_cuts: u64,
    pub compactions: u64,
    pub compaction_seconds_total: f64,
    pub last_compaction_seconds: f64,
    pub blocks_dropped_by_retention: u64,
    pub maintenance_errors: u64,
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
}

/// Head samples taken out by a cut, readable until their blocks are in place.
struct Frozen {
    series: Vec<FrozenSeries>,
    seq: u64,
    /// The first WAL segment not needed once these are in blocks.
    first_kept_segment: u64,
}

#[derive(Default)]
struct Readable {
    /// Sorted by write sequence, oldest first.
    blocks: Arc<Vec<Arc<Block>>>,
    frozen: Vec<Arc<Frozen>>,
}

struct Inner {
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
    /// Opens (or creates) the store in `dir`: loads blocks, replays the WAL into the
    /// head, and starts the background maintenance thread.
    pub fn open(dir: &Path, options: Options) -> Result<Tsdb, StorageError> {
        let blocks_dir = dir.join("blocks");
        let wal_dir = dir.join("wal");
        fs::create_dir_all(&blocks_dir)?;
        fs::create_dir_all(&wal_dir)?;
        let blocks = load_blocks(&blocks_dir)?;
        let next_seq = blocks
            .iter()
            .map(|b| b.meta().seq)
            .max()
            .map_or(1, |s| s + 1);
        let next_block_id = blocks
            .iter()
            .filter_map(|b| b.name().parse::<u64>().ok())
            .max()
            .map_or(1, |n| n + 1);

        let head = Head::new();
        let counters = Counters::default();
        let mut metadata = HashMap::new();
        let replay = wal::replay(&wal_dir, |r| match r {
            record::Record::Series(series) => {
                for (id, labels) in series {
                    head.replay_series(id, labels);
                }
            }
            record::Record::Samples(samples) => {
                for s in samples {
                    if !head.replay_sample(s.id, s.t, s.v) {
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

/// Opens every block under `dir`, removing unfinished (`.tmp`) ones and inputs of a
/// compaction whose result is already in place.
fn load_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, StorageError> {
    let mut blocks = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(crate::block::TMP_SUFFIX) {
            tracing::warn!(block = name, "removing unfinished block");
            fs::remove_dir_all(&path)?;
        } else if path.is_dir() {
            blocks.push(Arc::new(Block::open(&path)?));
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
        fs::remove_dir_all(b.dir())?;
    }
    blocks.retain(|b| !replaced.contains(b.name()));
    sort_blocks(&mut blocks);
    Ok(blocks)
}

fn sort_blocks(blocks: &mut [Arc<Block>]) {
    blocks.sort_by(|a, b| {
        (a.meta().seq, a.meta().min_t, a.name()).cmp(&(b.meta().seq, b.meta().min_t, b.name()))
    });
}

impl Inner {
    fn block_ms(&self) -> i64 {
        millis(self.options.block_duration)
    }

    fn new_block_name(&self) -> String {
        let id = self.next_block_id.fetch_add(1, Ordering::Relaxed);
        format!("{id:0width$}", width = BLOCK_NAME_DIGITS)
    }

    fn maintenance_loop(&self) {
        let mut last_retention = Instant::now();
        loop {
            {
                let mut stop = self.stop.lock();
                if *stop {
                    return;
                }
                self.wake
                    .wait_for(&mut stop, self.options.maintenance_interval);
                if *stop {
                    return;
                }
            }
            let due_retention = last_retention.elapsed() >= self.options.retention_interval;
            let result = self.maintain(due_retention);
            if due_retention {
                last_retention = Instant::now();
            }
            if let Err(e) = result {
                self.counters
                    .maintenance_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "tsdb maintenance failed; will retry");
            }
        }
    }

    fn maintain(&self, due_retention: bool) -> Result<(), StorageError> {
        if self.should_cut() {
            self.cut()?;
        } else if !self.readable.read().frozen.is_empty() {
            // An earlier cut could not write its blocks: retry.
            let _m = self.maintenance.lock();
            self.persist_frozen()?;
        }
        while self.compact_once()? {}
        if due_retention {
            self.apply_retention(now_ms())?;
        }
        Ok(())
    }

    /// Cut at each aligned block boundary (plus a grace for late samples), or early when
    /// the head holds too many samples.
    fn should_cut(&self) -> bool {
        let o = &self.options;
        if self.head.num_samples() >= o.max_head_samples
            || self.head.num_ooo_samples() >= o.max_head_ooo_samples
        {
            return true;
        }
        let bd = self.block_ms();
        let boundary =
            (self.last_cut_ms.load(Ordering::Relaxed).div_euclid(bd) + 1).saturating_mul(bd);
        now_ms() >= boundary.saturating_add(bd / 8)
    }

    fn cut(&self) -> Result<(), StorageError> {
        let _m = self.maintenance.lock();
        {
            let _writers_out = self.cut_lock.write();
            if self.head.num_samples() > 0 || self.head.num_series() > 0 {
                let first_kept_segment = self.wal.cut_segment()?;
                let series = self.head.freeze();
                let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
                let frozen = Arc::new(Frozen {
                    series,
                    seq,
                    first_kept_segment,
                });
                self.readable.write().frozen.push(frozen);
            }
            self.last_cut_ms.store(now_ms(), Ordering::Relaxed);
        }
        self.persist_frozen()?;
        self.counters.head_cuts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes every frozen head into blocks, publishes them, then checkpoints the WAL.
    /// The caller holds the maintenance lock.
    fn persist_frozen(&self) -> Result<(), StorageError> {
        let pending = self.readable.read().frozen.clone();
        let Some(first_kept) = pending.iter().map(|f| f.first_kept_segment).max() else {
            return Ok(());
        };
        for frozen in &pending {
            let written = self.write_frozen(frozen)?;
            let mut r = self.readable.write();
            let mut blocks = (*r.blocks).clone();
            blocks.extend(written);
            sort_blocks(&mut blocks);
            r.blocks = Arc::new(blocks);
            r.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
        }
        let frames = self.checkpoint_frames();
        self.wal.checkpoint(first_kept, &frames)?;
        Ok(())
    }

    /// One block per aligned block-duration window that has samples.
    fn write_frozen(&self, frozen: &Frozen) -> Result<Vec<Arc<Block>>, StorageError> {
        let bd = self.block_ms();
        let mut order: Vec<usize> = (0..frozen.series.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            cmp_labels(&frozen.series[a].labels, &frozen.series[b].labels)
        });
        let mut windows = BTreeSet::new();
        for s in &frozen.series {
            let Some((min, max)) = s.bounds() else {
                continue;
            };
            if min.div_euclid(bd) == max.div_euclid(bd) {
                windows.insert(min.div_euclid(bd));
            } else {
                windows.extend(
                    s.points_in(TimeRange::ALL)
                        .iter()
                        .map(|p| p.t.div_euclid(bd)),
                );
            }
        }
        let mut out = Vec::new();
        for w in windows {
            let range = TimeRange::new(
                w.saturating_mul(bd),
                (w + 1).saturating_mul(bd).saturating_sub(1),
            );
            let members: Vec<&FrozenSeries> = order
                .iter()
                .map(|&i| &frozen.series[i])
                .filter(|s| {
                    s.bounds()
                        .is_some_and(|(min, max)| range.overlaps(min, max))
                })
                .collect();
            let labels: Vec<Labels> = members.iter().map(|s| s.labels.clone()).collect();
            let name = self.new_block_name();
            let new = NewBlock {
                name: &name,
                seq: frozen.seq,
                level: 0,
                compacted_from: Vec::new(),
            };
            if write_block(&self.blocks_dir, new, &labels, |i| {
                Ok(members[i].points_in(range))
            })?
            .is_some()
            {
                out.push(Arc::new(Block::open(&self.blocks_dir.join(&name))?));
            }
        }
        Ok(out)
    }

    /// The series still in the head and all metadata, as WAL frames.
    fn checkpoint_frames(&self) -> Vec<u8> {
        const PER_RECORD: usize = 10_000;
        let mut frames = Vec::new();
        let mut batch: Vec<(u64, Labels)> = Vec::with_capacity(PER_RECORD);
        let mut payload = Vec::new();
        let mut flush = |batch: &mut Vec<(u64, Labels)>, frames: &mut Vec<u8>| {
            payload.clear();
            record::encode_series(&mut payload, batch.iter().map(|(id, l)| (*id, l)));
            wal::frame(frames, &payload);
            batch.clear();
        };
        self.head.for_each_series(|id, labels| {
            batch.push((id, labels.clone()));
            if batch.len() == PER_RECORD {
                flush(&mut batch, &mut frames);
            }
        });
        if !batch.is_empty() {
            flush(&mut batch, &mut frames);
        }
        let md = self.metadata.read();
        if !md.is_empty() {
            let mut payload = Vec::new();
            record::encode_metadata(&mut payload, md.values());
            wal::frame(&mut frames, &payload);
        }
        frames
    }

    fn compact_once(&self) -> Result<bool, StorageError> {
        let _m = self.maintenance.lock();
        let blocks = self.readable.read().blocks.clone();
        let Some((level, inputs)) = compaction::plan(&blocks, self.block_ms()) else {
            return Ok(false);
        };
        let start = Instant::now();
        let name = self.new_block_name();
        let output = match compaction::compact(&self.blocks_dir, &name, level, &inputs)? {
            Some(_) => Some(Arc::new(Block::open(&self.blocks_dir.join(&name))?)),
            None => None,
        };
        self.replace_blocks(&inputs, output)?;
        let micros = start.elapsed().as_micros() as u64;
        let c = &self.counters;
        c.compactions.fetch_add(1, Ordering::Relaxed);
        c.compaction_micros_total
            .fetch_add(micros, Ordering::Relaxed);
        c.last_compaction_micros.store(micros, Ordering::Relaxed);
        tracing::info!(
            level,
            inputs = inputs.len(),
            block = name,
            micros,
            "compacted blocks"
        );
        Ok(true)
    }

    /// Swaps `old` for `new` in the readable set, then deletes the old directories
    /// (queries holding them keep their memory maps).
    fn replace_blocks(
        &self,
        old: &[Arc<Block>],
        new: Option<Arc<Block>>,
    ) -> Result<(), StorageError> {
        {
            let mut r = self.readable.write();
            let mut blocks: Vec<Arc<Block>> = r
                .blocks
                .iter()
                .filter(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)))
                .cloned()
                .collect();
            blocks.extend(new);
            sort_blocks(&mut blocks);
            r.blocks = Arc::new(blocks);
        }
        for b in old {
            fs::remove_dir_all(b.dir())?;
        }
        wal::sync_dir(&self.blocks_dir)?;
        Ok(())
    }

    fn apply_retention(&self, now: i64) -> Result<usize, StorageError> {
        let Some(retention) = self.options.retention else {
            return Ok(0);
        };
        let _m = self.maintenance.lock();
        let blocks = self.readable.read().blocks.clone();
        let expired = retention::expired(&blocks, now, retention);
        if expired.is_empty() {
            return Ok(0);
        }
        for b in &expired {
            tracing::info!(
                block = b.name(),
                max_t = b.meta().max_t,
                "dropping block past retention"
            );
        }
        self.replace_blocks(&expired, None)?;
        self.counters
            .blocks_dropped_by_retention
            .fetch_add(expired.len() as u64, Ordering::Relaxed);
        Ok(expired.len())
    }

    /// Refuses a batch the store cannot take now, naming the reason.
    fn check_admission(&self, batch: &WriteBatch) -> Result<(), StorageError> {
        let o = &self.options;
        if self.head.num_samples() >= o.max_head_samples.saturating_mul(2)
            || self.head.num_ooo_samples() >= o.max_head_ooo_samples.saturating_mul(2)
        {
            self.wake.notify_all();
            return Err(StorageError::Backpressure {
                what: "head sample limit reached while a cut is pending".into(),
                retry_after: Duration::from_secs(5),
            });
        }
        if let Some(retention) = o.retention {
            let cutoff = now_ms().saturating_sub(millis(retention));
            if let Some(s) = batch.samples.iter().find(|s| s.t < cutoff) {
                return Err(StorageError::OutOfRetention(format!(
                    "sample of {} at {} is before the retention cutoff {cutoff}",
                    s.labels, s.t
                )));
            }
        }
        Ok(())
    }

    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        if batch.is_empty() {
            return Ok(AppendStats::default());
        }
        self.check_admission(batch)?;
        let n = batch.samples.len();
        let hashes: Vec<u64> = batch.samples.iter().map(|s| s.labels.hash64()).collect();
        // Sample indices grouped by shard, batch order kept within a shard (same series,
        // same shard: so a repeated timestamp keeps its last value).
        let (order, groups) = group_by_shard(&hashes);

        let _writers = self.cut_lock.read();
        let mut ids = vec![0u64; n];
        let mut new_series = 0;
        let mut wanted = Vec::new();
        let mut group_ids = Vec::new();
        for (shard, range) in &groups {
            wanted.clear();
            wanted.extend(
                order[range.clone()]
                    .iter()
                    .map(|&i| (hashes[i as usize], &batch.samples[i as usize].labels)),
            );
            group_ids.clear();
            group_ids.resize(wanted.len(), 0);
            let created = self.head.resolve(
                *shard,
                &wanted,
                &mut group_ids,
                self.options.max_head_series,
                |new| {
                    let mut payload = Vec::new();
                    record::encode_series(&mut payload, new.iter().map(|(id, l)| (*id, l)));
                    let mut frame = Vec::with_capacity(payload.len() + 8);
                    wal::frame(&mut frame, &payload);
                    self.wal.enqueue(&frame);
                },
            )?;
            new_series += created;
            for (k, &i) in order[range.clone()].iter().enumerate() {
                ids[i as usize] = group_ids[k];
            }
        }

        let mut payload = Vec::with_capacity(n * 10 + 16);
        let mut frames = Vec::with_capacity(n * 10 + 64);
        record::encode_samples(
            &mut payload,
            batch
                .samples
                .iter()
                .zip(&ids)
                .map(|(s, &id)| record::RefSample { id, t: s.t, v: s.v }),
        );
        wal::frame(&mut frames, &payload);
        if !batch.metadata.is_empty() {
            payload.clear();
            record::encode_metadata(&mut payload, batch.metadata.iter());
            wal::frame(&mut frames, &payload);
        }
        self.wal.write(&frames)?;

        for (shard, range) in &groups {
            let samples = order[range.clone()].iter().map(|&i| {
                let s = &batch.samples[i as usize];
                HeadSample {
                    local: (ids[i as usize] >> crate::head::SHARD_BITS) as u32,
                    t: s.t,
                    v: s.v,
                }
            });
            self.head.insert(*shard, samples);
        }
        if !batch.metadata.is_empty() {
            let mut md = self.metadata.write();
            for m in &batch.metadata {
                md.insert(m.metric.clone(), m.clone());
            }
        }
        self.counters
            .samples_appended
            .fetch_add(n as u64, Ordering::Relaxed);
        self.counters
            .series_created
            .fetch_add(new_series, Ordering::Relaxed);
        Ok(AppendStats {
            samples: n as u64,
            new_series,
        })
    }

    /// Calls `f` for every matching series in every source, oldest write first, with
    /// its points in `range`.
    fn visit(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        f: &mut dyn FnMut(&Labels, Vec<Point>),
    ) -> Result<(), StorageError> {
        // The head is read under the cut lock, so none of its samples can move to a
        // frozen head we did not snapshot; blocks and frozen heads are immutable and
        // read after releasing it, so a long query never holds up a cut (and appenders).
        let (blocks, frozen, head) = {
            let _no_cut = self.cut_lock.read();
            let (blocks, frozen) = self.snapshot();
            let mut head = Vec::new();
            self.head
                .select(matchers, range, |l, p| head.push((l.clone(), p)));
            (blocks, frozen, head)
        };
        for b in blocks
            .iter()
            .filter(|b| range.overlaps(b.meta().min_t, b.meta().max_t))
        {
            for id in crate::index::select(&**b, matchers) {
                let entry = b.series(id)?;
                if entry.overlaps(range) {
                    let mut pts = Vec::new();
                    b.read_points(&entry.chunks, range, &mut pts)?;
                    if !pts.is_empty() {
                        f(&entry.labels, pts);
                    }
                }
            }
        }
        for fz in &frozen {
            for s in fz
                .series
                .iter()
                .filter(|s| Matcher::all_match(matchers, &s.labels))
            {
                let pts = s.points_in(range);
                if !pts.is_empty() {
                    f(&s.labels, pts);
                }
            }
        }
        for (labels, points) in head {
            f(&labels, points);
        }
        Ok(())
    }
}

/// Sample indices ordered by shard (a stable counting sort), and per shard with
/// samples its range in that order.
fn group_by_shard(hashes: &[u64]) -> (Vec<u32>, Vec<(usize, std::ops::Range<usize>)>) {
    let mut next = [0usize; SHARDS];
    for &h in hashes {
        next[shard_of(h)] += 1;
    }
    let mut groups = Vec::new();
    let mut start = 0;
    for (shard, slot) in next.iter_mut().enumerate() {
        let count = *slot;
        if count > 0 {
            groups.push((shard, start..start + count));
        }
        *slot = start;
        start += count;
    }
    let mut order = vec![0u32; hashes.len()];
    for (i, &h) in hashes.iter().enumerate() {
        let slot = &mut next[shard_of(h)];
        order[*slot] = i as u32;
        *slot += 1;
    }
    (order, groups)
}

impl Appender for Tsdb {
    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        self.inner.append(batch)
    }
}

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        let mut found: HashMap<Labels, Vec<Vec<Point>>> = HashMap::new();
        self.inner
            .visit(matchers, range, &mut |l, pts| match found.get_mut(l) {
                Some(lists) => lists.push(pts),
                None => {
                    found.insert(l.clone(), vec![pts]);
                }
            })?;
        let mut out: Vec<Series> = found
            .into_iter()
            .map(|(labels, lists)| Series {
                labels,
                points: merge_last_wins(lists),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Labels>, StorageError> {
        let mut found = BTreeSet::new();
        self.inner.visit(matchers, range, &mut |l, _| {
            if !found.contains(l) {
                found.insert(l.clone());
            }
        })?;
        Ok(found.into_iter().collect())
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let mut names = HashSet::new();
        if matchers.is_empty() {
            self.inner.with_sources(range, |src| match src {
                Source::Block(b) => b.label_names(&mut |n| {
                    if !names.contains(n) {
                        names.insert(n.to_owned());
                    }
                }),
                Source::Frozen(s) => names.extend(s.labels.iter().map(|l| l.name.to_owned())),
                Source::Head(h) => h.label_names(range, &mut names),
            });
        } else {
            for l in self.series(matchers, range)? {
                names.extend(l.iter().map(|l| l.name.to_owned()));
            }
        }
        Ok(sorted(names))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let mut values = HashSet::new();
        if matchers.is_empty() {
            self.inner.with_sources(range, |src| match src {
                Source::Block(b) => crate::index::LabelIndex::for_each_value(b, name, &mut |v| {
                    if !values.contains(v) {
                        values.insert(v.to_owned());
                    }
                }),
                Source::Frozen(s) => values.extend(s.labels.get(name).map(str::to_owned)),
                Source::Head(h) => h.label_values(name, range, &mut values),
            });
        } else {
            for l in self.series(matchers, range)? {
                values.extend(l.get(name).map(str::to_owned));
            }
        }
        Ok(sorted(values))
    }

    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        let md = self.inner.metadata.read();
        let mut out: Vec<MetricMetadata> = md
            .values()
            .filter(|m| metric.is_none_or(|name| m.metric == name))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(out)
    }
}

fn sorted(set: HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort_unstable();
    v
}

/// Where discovery answers come from.
enum Source<'a> {
    /// A block overlapping the range: answered at block granularity, as Prometheus does.
    Block(&'a Block),
    /// A frozen series with data in the range.
    Frozen(&'a FrozenSeries),
    Head(&'a Head),
}

impl Inner {
    fn with_sources(&self, range: TimeRange, mut f: impl FnMut(Source<'_>)) {
        let (blocks, frozen) = {
            let _no_cut = self.cut_lock.read();
            f(Source::Head(&self.head));
            self.snapshot()
        };
        for b in blocks
            .iter()
            .filter(|b| range.overlaps(b.meta().min_t, b.meta().max_t))
        {
            f(Source::Block(b));
        }
        for fz in &frozen {
            for s in fz.series.iter().filter(|s| !s.points_in(range).is_empty()) {
                f(Source::Frozen(s));
            }
        }
    }

    fn snapshot(&self) -> (Arc<Vec<Arc<Block>>>, Vec<Arc<Frozen>>) {
        let r = self.readable.read();
        (r.blocks.clone(), r.frozen.clone())
    }
}
