//! Background maintenance: cutting the head into blocks (and checkpointing the WAL),
//! compaction and retention, one at a time under the maintenance lock.

use super::*;
use crate::block::writer::LabelsByIndex;

/// Points per chunk in a head cut's blocks: a query of the last minutes decodes at most
/// this many points of a series from them (2 h at a 15 s interval). Splitting by count,
/// not at fixed time boundaries, spares sparse series short chunks that each restart
/// their codec (4 % of the bytes of 45 s random walks).
const FLUSH_CHUNK_POINTS: usize = 2 * crate::chunk::TARGET_POINTS;

impl Inner {
    fn block_ms(&self) -> i64 {
        millis(self.options.block_duration)
    }

    fn new_block_name(&self) -> String {
        let id = self.next_block_id.fetch_add(1, Ordering::Relaxed);
        format!("{id:0width$}", width = BLOCK_NAME_DIGITS)
    }

    pub(super) fn maintenance_loop(&self) {
        let mut last_retention = Instant::now();
        loop {
            {
                let mut stop = self.stop.lock();
                if *stop {
                    return;
                }
                if !self.ranks_wanted.load(Ordering::Relaxed) {
                    self.wake
                        .wait_for(&mut stop, self.options.maintenance_interval);
                }
                if *stop {
                    return;
                }
            }
            if self.ranks_wanted.swap(false, Ordering::Relaxed) {
                self.head.rank_series();
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

    /// Asks the maintenance thread to place the head's series in label order, if a
    /// build is due: it runs off the reads' path, and is waited for at shutdown.
    pub(super) fn want_ranks(&self) {
        if self.head.ranking_due() {
            // Under the lock the thread checks the flag with, so the wake is not lost.
            let _stop = self.stop.lock();
            self.ranks_wanted.store(true, Ordering::Relaxed);
            self.wake.notify_all();
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
        let boundary = (self
            .last_cut_ms
            .load(Ordering::Relaxed)
            .div_euclid(bd)
            .saturating_add(1))
        .saturating_mul(bd);
        now_ms() >= boundary.saturating_add(bd / 8)
    }

    pub(super) fn cut(&self) -> Result<(), StorageError> {
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

    /// Writes every frozen head into blocks, publishes them, drops the series left empty
    /// from the head, then checkpoints the WAL. The caller holds the maintenance lock.
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
        // The frozen samples are freed here (unless a query still reads them).
        drop(pending);
        // Series whose samples are all in blocks now leave the head, so the checkpoint
        // carries only live ones. Writers are kept out: one that resolved a series must
        // find it when it inserts the sample the WAL already holds.
        let dropped = {
            let _writers_out = self.cut_lock.write();
            self.head.drop_empty_series()
        };
        release_freed_memory();
        let frames = self.checkpoint_frames();
        self.wal.checkpoint(first_kept, &frames)?;
        tracing::debug!(dropped, first_kept, "head series dropped, WAL checkpointed");
        Ok(())
    }

    /// One block per aligned cut window (see [`compaction::cut_window_ms`]) that has
    /// samples.
    fn write_frozen(&self, frozen: &Frozen) -> Result<Vec<Arc<Block>>, StorageError> {
        let window = compaction::cut_window_ms(self.block_ms());
        // Indices as u32: a million series' order takes 4 MB, not 8 (the head holds
        // far fewer than 2^32 series).
        let count = u32::try_from(frozen.series.len())
            .map_err(|_| StorageError::Other("more than 2^32 series in one cut".into()))?;
        let mut order: Vec<u32> = (0..count).collect();
        order.sort_unstable_by(|&a, &b| {
            series_order(
                &frozen.series[a as usize].labels,
                &frozen.series[b as usize].labels,
            )
        });
        let mut windows = BTreeSet::new();
        for s in &frozen.series {
            let Some((min, max)) = s.bounds() else {
                continue;
            };
            if min.div_euclid(window) == max.div_euclid(window) {
                windows.insert(min.div_euclid(window));
            } else {
                windows.extend(
                    s.points_in(TimeRange::ALL)
                        .iter()
                        .map(|p| p.t.div_euclid(window)),
                );
            }
        }
        let mut out = Vec::new();
        for w in windows {
            let range = window_range(w, window);
            let members = FrozenMembers {
                series: &frozen.series,
                members: order
                    .iter()
                    .copied()
                    .filter(|&i| {
                        frozen.series[i as usize]
                            .bounds()
                            .is_some_and(|(min, max)| range.overlaps(min, max))
                    })
                    .collect(),
            };
            let name = self.new_block_name();
            let new = NewBlock {
                name: &name,
                seq: frozen.seq,
                level: 0,
                compacted_from: Vec::new(),
                chunk_points: FLUSH_CHUNK_POINTS,
            };
            if write_block(&self.blocks_dir, new, &members, |i| {
                Ok(members.series(i).points_in(range))
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

    pub(super) fn compact_once(&self) -> Result<bool, StorageError> {
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
            crate::block::delete_block_dir(b.dir())?;
        }
        wal::sync_dir(&self.blocks_dir)?;
        Ok(())
    }

    pub(super) fn apply_retention(&self, now: i64) -> Result<usize, StorageError> {
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
}

/// Hands the memory of frozen samples and dropped head series back to the system now,
/// in the maintenance thread: glibc would otherwise consolidate their millions of small
/// free chunks during some later allocation, stalling whichever query makes it (0.3-0.9 s
/// for the first discovery call after a flush of 1M series, against 2 ms).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The frozen series of one block, in series order, by their indices: the block
/// writer reads their labels in place.
struct FrozenMembers<'a> {
    series: &'a [FrozenSeries],
    members: Vec<u32>,
}

impl FrozenMembers<'_> {
    fn series(&self, i: usize) -> &FrozenSeries {
        &self.series[self.members[i] as usize]
    }
}

impl LabelsByIndex for FrozenMembers<'_> {
    fn count(&self) -> usize {
        self.members.len()
    }

    fn labels(&self, i: usize) -> &Labels {
        &self.series(i).labels
    }
}

/// The instants of aligned window `w` of width `bd`, clamped at the ends of time.
fn window_range(w: i64, bd: i64) -> TimeRange {
    let end = w
        .checked_add(1)
        .and_then(|n| n.checked_mul(bd))
        .map_or(i64::MAX, |e| e - 1);
    TimeRange::new(w.saturating_mul(bd), end)
}
