//! The read path: sources (blocks, frozen heads, the head) visited oldest write first
//! and merged so that later writes win. Discovery is in `discovery.rs`.
//!
//! A select first plans: it reads the series entries of every matching series in
//! every source (the head's series are copied under the cut lock as compressed
//! chunks), orders these parts by label set (oldest part of a series first) by sorting
//! numbers where it can (a block's symbol refs, the head's places in label order) and
//! precomputed byte keys where it cannot, and cuts the series into batches. The
//! batches are then decoded on this thread and a spare pool thread, each series' parts
//! straight into one vector, while the caller is lent each series in turn. Short
//! series, the real-time query's shape, share their batch's buffer: a selection
//! allocates per batch rather than per series.

use super::*;
use crate::block::{ChunkMeta, FrameCursor, LentSeries};
use crate::head::{HeadCopies, HeadCopy};
use crate::order;
use std::ops::ControlFlow;
use strata_core::{each_series, metadata_of, SeriesVisitor};

/// Series of at least this many points keep a vector of their own; shorter ones share
/// their batch's buffer. Short series are the real-time query's shape, where an
/// allocation per series costs more than decoding it; long ones would make that buffer,
/// and each regrowth of it, megabytes.
const OWN_VEC_POINTS: usize = 256;

/// A batch of series is cut after about this many chunks (or point lists of up to 256
/// points): small enough for two threads to share a selection evenly, big enough
/// that handing batches over costs nothing next to decoding them.
const BATCH_CHUNKS: usize = 64;

/// The head's matching series are copied in jobs of this many: about a hundred
/// microseconds each.
const HEAD_JOB_SERIES: usize = 256;

/// Where one part of a series is: its points from one source.
enum PartSource {
    /// Chunks of the snapshot's block `block`: a range of the plan's chunk list.
    Block {
        block: u32,
        chunks: std::ops::Range<u32>,
        labels: Labels,
    },
    /// Series `series` of the plan's held list `list`.
    Held { list: u32, series: u32 },
}

/// Series held in memory as sealed bytes: a frozen head's, or the head's matching
/// series copied out under the cut lock.
enum HeldList {
    Frozen(Arc<Frozen>),
    Copied(HeadCopy),
}

impl HeldList {
    fn len(&self) -> usize {
        match self {
            HeldList::Frozen(frozen) => frozen.series.len(),
            HeldList::Copied(copy) => copy.len(),
        }
    }

    fn labels(&self, i: usize) -> &Labels {
        match self {
            HeldList::Frozen(frozen) => &frozen.series[i].labels,
            HeldList::Copied(copy) => copy.labels(i),
        }
    }

    fn bounds(&self, i: usize) -> Option<(i64, i64)> {
        match self {
            HeldList::Frozen(frozen) => frozen.series[i].bounds(),
            HeldList::Copied(copy) => Some(copy.bounds(i)),
        }
    }

    /// About how many chunks' decoding series `i` costs.
    fn weight(&self, i: usize) -> usize {
        match self {
            HeldList::Frozen(frozen) => frozen.series[i].weight(),
            HeldList::Copied(copy) => copy.weight(i),
        }
    }

    fn points_into(&self, i: usize, range: TimeRange, out: &mut Vec<Point>) {
        match self {
            HeldList::Frozen(frozen) => out.extend(frozen.series[i].points_in(range)),
            HeldList::Copied(copy) => copy.points_into(i, range, out),
        }
    }
}

/// One series' points from one source.
struct Part {
    source: PartSource,
    /// A block part's symbol refs in the plan's `order_keys`: they order the parts of
    /// one block as their labels do (see [`crate::block::LentSeries`]).
    order_key: std::ops::Range<u32>,
}

/// A selection before decoding: every part of every matching series (oldest source
/// first), the series in label order each with its parts, and the batches they are
/// decoded in. Planning reads only series entries; the chunks are decoded by batch,
/// on two threads when the pool has one to spare (see [`crate::parallel`]), and
/// each series' parts straight into one vector.
///
/// Each source's parts are put in label order on their own, a block's by comparing
/// symbol refs (no strings touched), then the sources are merged by labels.
struct ReadPlan {
    blocks: Arc<Vec<Arc<Block>>>,
    held: Vec<HeldList>,
    range: TimeRange,
    parts: Vec<Part>,
    /// Each source's parts, as a range of `parts`, oldest source first.
    sources: Vec<std::ops::Range<u32>>,
    /// The chunks of the block parts.
    chunks: Vec<ChunkMeta>,
    order_keys: Vec<u32>,
    /// Part indexes in label order, the parts of one series oldest first.
    order: Vec<u32>,
    /// Each series' parts, as a range of `order`.
    series: Vec<std::ops::Range<u32>>,
    /// Ranges of `series`, decoded one at a time.
    batches: Vec<std::ops::Range<usize>>,
}

impl ReadPlan {
    fn new(blocks: Arc<Vec<Arc<Block>>>, range: TimeRange) -> ReadPlan {
        ReadPlan {
            blocks,
            held: Vec::new(),
            range,
            parts: Vec::new(),
            sources: Vec::new(),
            chunks: Vec::new(),
            order_keys: Vec::new(),
            order: Vec::new(),
            series: Vec::new(),
            batches: Vec::new(),
        }
    }

    /// Starts the parts of the next source; each source lists a series at most once.
    fn begin_source(&mut self) {
        let at = self.parts.len() as u32;
        self.sources.push(at..at);
    }

    fn push(&mut self, part: Part) {
        self.parts.push(part);
        if let Some(source) = self.sources.last_mut() {
            source.end = self.parts.len() as u32;
        }
    }

    /// Adds a part of block `block`: its chunks that overlap the range, if any.
    fn add_block_part(&mut self, block: usize, series: LentSeries<'_>) {
        let start = self.chunks.len() as u32;
        let range = self.range;
        self.chunks.extend(
            series
                .chunks
                .iter()
                .filter(|c| range.overlaps(c.min_t, c.max_t)),
        );
        let end = self.chunks.len() as u32;
        if end > start {
            let key_start = self.order_keys.len() as u32;
            self.order_keys.extend_from_slice(series.order_key);
            self.push(Part {
                source: PartSource::Block {
                    block: block as u32,
                    chunks: start..end,
                    labels: series.labels,
                },
                order_key: key_start..self.order_keys.len() as u32,
            });
        }
    }

    /// Adds a source of the series of `lists` matching `matchers`, each a part, with
    /// their places in label order (`ranks`, one per series of the lists in turn) or
    /// none (empty).
    fn add_held_source(&mut self, lists: Vec<HeldList>, matchers: &[Matcher], ranks: &[u32]) {
        self.begin_source();
        let mut ranks = ranks.iter();
        for held in lists {
            let list = self.held.len() as u32;
            for i in 0..held.len() {
                let rank = ranks.next();
                let in_range = held
                    .bounds(i)
                    .is_some_and(|(min, max)| self.range.overlaps(min, max));
                if in_range && Matcher::all_match(matchers, held.labels(i)) {
                    let key_start = self.order_keys.len() as u32;
                    self.order_keys.extend(rank);
                    self.push(Part {
                        source: PartSource::Held {
                            list,
                            series: i as u32,
                        },
                        order_key: key_start..self.order_keys.len() as u32,
                    });
                }
            }
            self.held.push(held);
        }
    }

    /// The label set of part `p`.
    fn labels(&self, p: u32) -> &Labels {
        part_labels(&self.parts, &self.held, p)
    }

    /// The part's share of a batch, in chunks.
    fn weight(&self, part: &Part) -> usize {
        match &part.source {
            PartSource::Block { chunks, .. } => chunks.len(),
            PartSource::Held { list, series } => self.held[*list as usize].weight(*series as usize),
        }
    }

    /// Orders the parts by series, groups each series' parts and cuts the batches.
    fn finish(mut self) -> ReadPlan {
        let runs: Vec<Vec<u32>> = self.sources.iter().map(|s| self.run_order(s)).collect();
        self.order = Vec::with_capacity(self.parts.len());
        match runs.len() {
            0 => {}
            // One source lists each series once: every part is a series of its own.
            1 => {
                self.order = runs.into_iter().flatten().collect();
                self.series = (0..self.order.len() as u32).map(|i| i..i + 1).collect();
            }
            _ => self.merge_runs(runs),
        }
        self.cut_batches();
        self
    }

    /// The parts of one source in label order.
    fn run_order(&self, source: &std::ops::Range<u32>) -> Vec<u32> {
        let parts = &self.parts[source.start as usize..source.end as usize];
        if parts.first().is_some_and(|p| p.order_key.is_empty()) {
            return order::label_order(source.clone().map(|p| self.labels(p)))
                .into_iter()
                .map(|i| source.start + i)
                .collect();
        }
        let mut order: Vec<u32> = source.clone().collect();
        let key = |i: u32| {
            let k = &self.parts[i as usize].order_key;
            &self.order_keys[k.start as usize..k.end as usize]
        };
        // The head's parts have one number each, their place.
        if parts.iter().all(|p| p.order_key.len() == 1) {
            order::sort_by_rank(&mut order, |i| key(i)[0]);
        } else {
            order::sort_by_keys(&mut order, key);
        }
        order
    }

    /// Merges the sources' runs by labels into `order`, a series' parts oldest source
    /// first, and groups each series' parts.
    fn merge_runs(&mut self, runs: Vec<Vec<u32>>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let (parts, held) = (&self.parts, &self.held);
        let (order, series) = (&mut self.order, &mut self.series);
        // A heap entry: the run's next part's labels, the run, the position in it.
        let entry = |run: usize, at: usize| {
            runs[run]
                .get(at)
                .map(|&p| Reverse((part_labels(parts, held, p), run, at)))
        };
        let mut heap: BinaryHeap<_> = (0..runs.len()).filter_map(|r| entry(r, 0)).collect();
        while let Some(Reverse((labels, run, at))) = heap.pop() {
            let same_series = order
                .last()
                .is_some_and(|&last| part_labels(parts, held, last) == labels);
            order.push(runs[run][at]);
            let end = order.len() as u32;
            match series.last_mut() {
                Some(s) if same_series => s.end = end,
                _ => series.push(end - 1..end),
            }
            heap.extend(entry(run, at + 1));
        }
    }

    /// Cuts the series into batches of about [`BATCH_CHUNKS`] chunks.
    fn cut_batches(&mut self) {
        let (mut start, mut weight) = (0, 0);
        for (i, series) in self.series.iter().enumerate() {
            weight += self.order[series.start as usize..series.end as usize]
                .iter()
                .map(|&p| self.weight(&self.parts[p as usize]))
                .sum::<usize>();
            if weight >= BATCH_CHUNKS {
                self.batches.push(start..i + 1);
                (start, weight) = (i + 1, 0);
            }
        }
        if start < self.series.len() {
            self.batches.push(start..self.series.len());
        }
    }

    fn series_labels(&self, series: usize) -> &Labels {
        self.labels(self.order[self.series[series].start as usize])
    }

    /// The points of every series of batch `batch`.
    fn decode_batch(&self, batch: usize) -> Result<Batch, StorageError> {
        let series = self.batches[batch].clone();
        let mut out = Batch {
            spans: Vec::with_capacity(series.len()),
            shared: Vec::new(),
        };
        let mut scratch = Vec::new();
        let mut starts = Vec::new();
        let mut frames: Vec<FrameCursor> = self.blocks.iter().map(|_| Default::default()).collect();
        for s in series {
            self.decode_series(s, &mut scratch, &mut starts, &mut frames)?;
            out.close(&mut scratch);
        }
        Ok(out)
    }

    /// Appends the points of series `s` to the empty `out`, its parts merged (later
    /// writes win). Parts that follow one another in time, a series running through
    /// consecutive blocks, are decoded one after another into `out` and need no merge.
    fn decode_series(
        &self,
        s: usize,
        out: &mut Vec<Point>,
        starts: &mut Vec<usize>,
        frames: &mut [FrameCursor],
    ) -> Result<(), StorageError> {
        starts.clear();
        let mut ascending = true;
        for &part in &self.order[self.series[s].start as usize..self.series[s].end as usize] {
            let start = out.len();
            match &self.parts[part as usize].source {
                PartSource::Block { block, chunks, .. } => {
                    let chunks = &self.chunks[chunks.start as usize..chunks.end as usize];
                    let (block, frames) = (*block as usize, &mut frames[*block as usize]);
                    self.blocks[block].read_points_with(chunks, self.range, frames, out)?;
                }
                PartSource::Held { list, series } => {
                    self.held[*list as usize].points_into(*series as usize, self.range, out)
                }
            }
            if start > 0 && start < out.len() && out[start - 1].t >= out[start].t {
                ascending = false;
            }
            starts.push(start);
        }
        if !ascending {
            starts.push(out.len());
            let parts = starts
                .windows(2)
                .map(|w| out[w[0]..w[1]].to_vec())
                .collect();
            *out = merge_last_wins(parts);
        }
        Ok(())
    }

    /// Tells `visitor` the series to come, then decodes the batches, on two threads
    /// when the pool has one to spare, and lends it each series that has points in the
    /// range, in label order.
    fn visit(self: Arc<Self>, visitor: &mut dyn SeriesVisitor) -> Result<(), StorageError> {
        let mut expected = (0..self.series.len()).map(|s| self.series_labels(s));
        if visitor.expect(&mut expected).is_break() {
            return Ok(());
        }
        let plan = Arc::clone(&self);
        let (mut series, mut lent, mut failed) = (0, Vec::new(), None);
        crate::parallel::for_each_in_order(
            self.batches.len(),
            move |batch| plan.decode_batch(batch),
            |batch| {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                };
                for span in batch.spans {
                    let index = series;
                    let labels = self.series_labels(index);
                    series += 1;
                    let flow = match span {
                        PartPoints::Own(mut points) => visitor.series(index, labels, &mut points),
                        PartPoints::Shared(r) if r.is_empty() => continue,
                        PartPoints::Shared(r) => {
                            lent.clear();
                            lent.extend_from_slice(&batch.shared[r]);
                            visitor.series(index, labels, &mut lent)
                        }
                    };
                    flow?;
                }
                ControlFlow::Continue(())
            },
        );
        failed.map_or(Ok(()), Err)
    }
}

/// The label set of part `p` of `parts`, whose held series are in `held`.
fn part_labels<'a>(parts: &'a [Part], held: &'a [HeldList], p: u32) -> &'a Labels {
    match &parts[p as usize].source {
        PartSource::Block { labels, .. } => labels,
        PartSource::Held { list, series } => held[*list as usize].labels(*series as usize),
    }
}

/// Where a series' decoded points are.
enum PartPoints {
    Shared(std::ops::Range<usize>),
    Own(Vec<Point>),
}

/// The decoded series of one batch: short ones in one shared buffer.
struct Batch {
    spans: Vec<PartPoints>,
    shared: Vec<Point>,
}

impl Batch {
    /// Ends the series decoded into `scratch`, which is left empty.
    fn close(&mut self, scratch: &mut Vec<Point>) {
        if scratch.len() >= OWN_VEC_POINTS {
            // The next series is likely as long: its buffer is sized so, not copied.
            let next = Vec::with_capacity(scratch.len());
            self.spans
                .push(PartPoints::Own(std::mem::replace(scratch, next)));
        } else {
            let start = self.shared.len();
            self.shared.extend_from_slice(scratch);
            self.spans
                .push(PartPoints::Shared(start..self.shared.len()));
            scratch.clear();
        }
    }
}

/// What one select reads: the blocks and frozen heads of the moment, and a copy of
/// the head's matching series.
struct ReadSnapshot {
    blocks: Arc<Vec<Arc<Block>>>,
    frozen: Vec<Arc<Frozen>>,
    /// One per copying job, in job order.
    head: Vec<HeadCopies>,
}

impl Inner {
    /// The blocks and frozen heads, with the head's matching series copied, all under
    /// the cut lock, so no sample is seen twice or missed.
    fn read_snapshot(self: &Arc<Self>, matchers: &[Matcher], range: TimeRange) -> ReadSnapshot {
        // The head is read under the cut lock, so none of its samples can move to a
        // frozen head we did not snapshot; blocks and frozen heads are immutable and
        // read after releasing it, so a long query never holds up a cut (and appenders).
        let _no_cut = self.cut_lock.read();
        let (blocks, frozen) = self.snapshot();
        // Only the head's compressed chunks are copied here, under the lock, on this
        // thread and a read-pool thread; every job is done before the lock is released.
        let ids: Arc<[u64]> = self.head.selected_ids(matchers).into();
        let mut head = Vec::new();
        let (inner, of_job) = (Arc::clone(self), Arc::clone(&ids));
        crate::parallel::for_each_in_order(
            ids.len().div_ceil(HEAD_JOB_SERIES),
            move |job| {
                let at = job * HEAD_JOB_SERIES;
                let ids = &of_job[at..(at + HEAD_JOB_SERIES).min(of_job.len())];
                inner.head.copy_ids(ids, range)
            },
            |copies| {
                head.push(copies);
                ControlFlow::Continue(())
            },
        );
        if head.iter().any(|copies| !copies.unranked.is_empty()) {
            self.want_ranks();
        }
        ReadSnapshot {
            blocks,
            frozen,
            head,
        }
    }

    /// The plan of a select: every part of every matching series, oldest write first
    /// (blocks, frozen heads, then the head).
    fn plan(
        self: &Arc<Self>,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<ReadPlan, StorageError> {
        let ReadSnapshot {
            blocks,
            frozen,
            head,
        } = self.read_snapshot(matchers, range);
        let mut plan = ReadPlan::new(Arc::clone(&blocks), range);
        for (i, b) in blocks.iter().enumerate() {
            plan.begin_source();
            b.each_series_in(matchers, range, |series| {
                plan.add_block_part(i, series);
                Ok(())
            })?;
        }
        for fz in frozen {
            plan.add_held_source(vec![HeldList::Frozen(fz)], matchers, &[]);
        }
        // The head's copies match already: those with places, then those without.
        let (mut ranked, mut ranks, mut unranked) = (Vec::new(), Vec::new(), Vec::new());
        for copies in head {
            ranks.extend(copies.ranks);
            ranked.extend((!copies.ranked.is_empty()).then_some(HeldList::Copied(copies.ranked)));
            unranked
                .extend((!copies.unranked.is_empty()).then_some(HeldList::Copied(copies.unranked)));
        }
        for (lists, ranks) in [(ranked, ranks), (unranked, Vec::new())] {
            if !lists.is_empty() {
                plan.add_held_source(lists, &[], &ranks);
            }
        }
        Ok(plan.finish())
    }
}

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::new();
        self.select_each(
            matchers,
            range,
            &mut each_series(|labels, points| {
                out.push(Series {
                    labels: labels.clone(),
                    points: std::mem::take(points),
                });
                ControlFlow::Continue(())
            }),
        )?;
        Ok(out)
    }

    fn select_each(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        visitor: &mut dyn SeriesVisitor,
    ) -> Result<(), StorageError> {
        Arc::new(self.inner.plan(matchers, range)?).visit(visitor)
    }

    fn series(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Labels>, StorageError> {
        self.inner.series(matchers, range)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(matchers, range)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(name, matchers, range)
    }

    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        Ok(metadata_of(self.inner.metadata.read().values(), metric))
    }
}

impl Inner {
    pub(super) fn snapshot(&self) -> (Arc<Vec<Arc<Block>>>, Vec<Arc<Frozen>>) {
        let r = self.readable.read();
        (r.blocks.clone(), r.frozen.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::MemSeries;
    use proptest::prelude::*;

    fn labels(i: usize) -> Labels {
        Labels::new([("__name__", "m".to_owned()), ("i", i.to_string())]).unwrap()
    }

    fn write(db: &Tsdb, series: std::ops::Range<usize>, times: std::ops::Range<i64>, v: f64) {
        let samples = series
            .flat_map(|i| {
                times.clone().map(move |t| strata_core::Sample {
                    labels: labels(i),
                    t: t * 1000,
                    v: v + i as f64,
                })
            })
            .collect();
        db.append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .unwrap();
    }

    /// Blocks that overlap (the later write wins on shared timestamps) or follow one
    /// another, and the head.
    #[test]
    fn parts_of_blocks_and_head_merge_with_later_writes_winning() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        let n = 300;
        write(&db, 0..n, 0..10, 0.0);
        db.flush().unwrap();
        // The first half is overwritten in part; the second half continues.
        write(&db, 0..n / 2, 5..15, 0.5);
        write(&db, n / 2..n, 10..15, 0.5);
        db.flush().unwrap();
        write(&db, 0..10, 20..21, 0.25);

        let range = TimeRange::new(3_000, 20_000);
        let got = db.select(&[], range).unwrap();
        assert_eq!(got.len(), n);
        let mut want: Vec<Labels> = (0..n).map(labels).collect();
        want.sort();
        for (s, l) in got.iter().zip(&want) {
            assert_eq!(&s.labels, l);
            let i: f64 = l.get("i").unwrap().parse().unwrap();
            let mut expect: Vec<Point> = (3..15)
                .map(|t| Point {
                    t: t * 1000,
                    v: if t < 5 || (t < 10 && i >= (n / 2) as f64) {
                        i
                    } else {
                        i + 0.5
                    },
                })
                .collect();
            if i < 10.0 {
                expect.push(Point {
                    t: 20_000,
                    v: i + 0.25,
                });
            }
            assert_eq!(s.points, expect, "series {l}");
        }
        // A visit stops where the visitor says, having seen what `select` returns.
        let mut seen = Vec::new();
        db.select_each(
            &[],
            range,
            &mut each_series(|l, p| {
                seen.push(Series {
                    labels: l.clone(),
                    points: p.clone(),
                });
                if seen.len() == 7 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }),
        )
        .unwrap();
        assert_eq!(seen, got[..7]);
    }

    /// Head series with a place in label order and series created since merge into
    /// label order.
    #[test]
    fn placed_and_new_head_series_merge_in_label_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        write(&db, 0..200, 0..3, 0.0);
        assert!(db.inner.head.rank_series());
        write(&db, 200..260, 1..2, 0.0);
        let got = db.select(&[], TimeRange::ALL).unwrap();
        let mut want: Vec<Labels> = (0..260).map(labels).collect();
        want.sort();
        assert_eq!(
            got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
            want
        );
    }

    /// Sorted, unique point lists with timestamps in a small range, so that lists
    /// often overlap and often follow one another.
    fn point_lists() -> impl Strategy<Value = Vec<Vec<Point>>> {
        let list = proptest::collection::btree_set(0i64..40, 0..8).prop_map(|ts| {
            ts.into_iter()
                .map(|t| Point { t, v: t as f64 })
                .collect::<Vec<_>>()
        });
        proptest::collection::vec(list, 2..5).prop_map(|mut lists| {
            for (i, l) in lists.iter_mut().enumerate() {
                l.iter_mut().for_each(|p| p.v += i as f64 / 10.0);
            }
            lists
        })
    }

    proptest! {
        #[test]
        fn decoded_parts_are_what_merge_last_wins_gives(lists in point_lists()) {
            let range = TimeRange::new(i64::MIN, i64::MAX);
            let mut plan = ReadPlan::new(Arc::new(Vec::new()), range);
            for l in &lists {
                let mut series = MemSeries::new(labels(1));
                for p in l {
                    series.append(p.t, p.v);
                }
                let copy = HeadCopy::of(&series, range);
                plan.add_held_source(vec![HeldList::Copied(copy)], &[], &[]);
            }
            let plan = Arc::new(plan.finish());
            let mut got = Vec::new();
            plan.visit(&mut each_series(|_, points| {
                got = std::mem::take(points);
                ControlFlow::Continue(())
            })).unwrap();
            prop_assert_eq!(got, merge_last_wins(lists.clone()));
        }

    }

    /// Writes a sample of value 1 for each (series, second), then flushes them.
    fn flush_points(db: &Tsdb, points: &[(usize, i64)]) {
        let samples = points
            .iter()
            .map(|&(i, t)| strata_core::Sample {
                labels: labels(i),
                t: t * 1000,
                v: 1.0,
            })
            .collect();
        db.append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .unwrap();
        db.flush().unwrap();
    }

    /// `series` reports a series only when it has a point in the range, even when a
    /// block chunk spans the range without a point inside it.
    #[test]
    fn series_needs_a_point_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        flush_points(&db, &[(1, 0), (1, 100)]);
        assert!(db
            .series(&[], TimeRange::new(10_000, 90_000))
            .unwrap()
            .is_empty());
        assert_eq!(
            db.series(&[], TimeRange::new(10_000, 100_000)).unwrap(),
            vec![labels(1)]
        );
        assert!(db
            .select(&[], TimeRange::new(10_000, 90_000))
            .unwrap()
            .is_empty());
    }

    /// A visitor first hears of every series with a chunk in the range, then gets those
    /// with points in it, numbered as they were listed.
    #[test]
    fn visitors_get_series_numbered_as_expected() {
        struct Record(Vec<Labels>, Vec<(usize, Labels, usize)>);
        impl SeriesVisitor for Record {
            fn expect(
                &mut self,
                labels: &mut dyn ExactSizeIterator<Item = &Labels>,
            ) -> ControlFlow<()> {
                self.0 = labels.cloned().collect();
                ControlFlow::Continue(())
            }
            fn series(&mut self, i: usize, l: &Labels, p: &mut Vec<Point>) -> ControlFlow<()> {
                self.1.push((i, l.clone(), p.len()));
                ControlFlow::Continue(())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        // Series 1 has a chunk over the range but no point in it; 2 and 3 have points.
        flush_points(&db, &[(1, 0), (1, 100), (2, 50), (3, 40), (3, 60)]);
        let mut seen = Record(Vec::new(), Vec::new());
        db.select_each(&[], TimeRange::new(10_000, 90_000), &mut seen)
            .unwrap();
        assert_eq!(seen.0, vec![labels(1), labels(2), labels(3)]);
        assert_eq!(seen.1, vec![(1, labels(2), 1), (2, labels(3), 2)]);
    }
}
