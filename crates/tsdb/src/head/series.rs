//! One series in the head: its labels, its in-order samples as compressed chunks and a
//! small sorted buffer for samples that arrive out of order (or rewrite an existing
//! timestamp).

use crate::chunk::{self, HeadChunk, TARGET_POINTS};
use crate::encoding::{put_bytes, Decoder};
use crate::merge::merge_sorted;
use std::borrow::Cow;
use strata_core::{Labels, Point, TimeRange};

/// In-order chunks sealed from the head's stream (a copy of its bytes, no re-encoding),
/// each framed by its length; one to [`MERGED`] of them, consecutive, share an entry
/// and its allocation. The time range lets queries skip the entry without decoding.
pub struct SealedChunk {
    min_t: i64,
    max_t: i64,
    bytes: Box<[u8]>,
}

/// Appends the points within `range` of every chunk of `framed` (chunks each framed by
/// its length) to `out`. The bytes were sealed in memory from a valid stream, so an
/// error is a bug, not data: it is logged and the rest skipped.
pub(super) fn decode_framed(framed: &[u8], range: TimeRange, out: &mut Vec<Point>) {
    let mut d = Decoder::new(framed);
    while !d.is_empty() {
        let decoded = d
            .len_bytes()
            .map_err(|e| e.to_string())
            .and_then(|chunk| chunk::decode_range_into(chunk, range, out).map_err(|e| e.0));
        if let Err(e) = decoded {
            tracing::error!(error = %e, "undecodable sealed head chunk skipped");
            return;
        }
    }
}

impl SealedChunk {
    /// The entries of `sealed` (consecutive, oldest first) that may hold points in `range`.
    fn overlapping(sealed: &[SealedChunk], range: TimeRange) -> &[SealedChunk] {
        // Chunks are in time order: start at the first one ending inside the range.
        let first = sealed.partition_point(|c| c.max_t < range.start);
        let end = first + sealed[first..].partition_point(|c| c.min_t <= range.end);
        &sealed[first..end]
    }
}

/// Points the open chunk takes before it is sealed: a query of recent data decodes at
/// most about twice this many points per series. Smaller is faster to query but slows
/// appends, since each new head chunk chooses its codec again (about 10 µs): a quarter
/// of a full chunk halves a recent query's decode and doubles that append overhead.
const OPEN_POINTS: usize = TARGET_POINTS / 2;

/// Sealed chunks sharing one entry: fewer entries (32 bytes and an allocation each),
/// while the chunks still sealed alone keep a recent range's decode small.
const MERGED: u8 = (TARGET_POINTS / OPEN_POINTS) as u8;

/// A series' in-order samples: sealed chunks, oldest first (entries of [`MERGED`]
/// chunks, then up to `MERGED - 1` entries of one), and the chunk being appended to. A
/// query decodes only the entries overlapping its range, so a recent range costs a few
/// dozen points' decode however long the head.
#[derive(Default)]
pub struct InOrderChunks {
    /// A boxed slice, not a vector: exact size (a vector's first push reserves four
    /// entries), and a pointer less. It changes once per sealed chunk.
    sealed: Box<[SealedChunk]>,
    open: HeadChunk,
    /// How many of the last entries hold one chunk (not yet merged).
    single: u8,
}

impl InOrderChunks {
    /// Appends a point; the caller guarantees `t` is past [`Self::last`].
    fn append(&mut self, t: i64, v: f64) {
        if self.open.len() >= OPEN_POINTS {
            self.seal();
            if self.single == MERGED {
                self.merge_singles();
            }
        }
        self.open.append(t, v);
    }

    fn seal(&mut self) {
        let next = self.open.successor();
        let full = std::mem::replace(&mut self.open, next);
        if let (Some(min_t), Some(max_t)) = (full.min_t(), full.max_t()) {
            let mut bytes = Vec::new();
            put_bytes(&mut bytes, &full.to_bytes());
            let mut sealed = std::mem::take(&mut self.sealed).into_vec();
            sealed.reserve_exact(1);
            sealed.push(SealedChunk {
                min_t,
                max_t,
                bytes: bytes.into_boxed_slice(),
            });
            self.sealed = sealed.into_boxed_slice();
            self.single += 1;
        }
    }

    /// Replaces the single-chunk entries at the end by one entry (their bytes joined).
    fn merge_singles(&mut self) {
        let from = self.sealed.len().saturating_sub(usize::from(self.single));
        self.single = 0;
        let mut sealed = std::mem::take(&mut self.sealed).into_vec();
        let singles = sealed.split_off(from);
        sealed.extend(join(singles));
        self.sealed = sealed.into_boxed_slice();
    }

    fn last(&self) -> Option<Point> {
        // The open chunk is empty only while nothing is sealed.
        self.open.last()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.sealed.is_empty()
    }

    fn min_t(&self) -> Option<i64> {
        self.sealed.first().map(|c| c.min_t).or(self.open.min_t())
    }

    fn max_t(&self) -> Option<i64> {
        self.open
            .max_t()
            .or_else(|| self.sealed.last().map(|c| c.max_t))
    }

    /// The open chunk's bytes in memory (see [`HeadChunk::stored_bytes`]).
    pub fn open_bytes(&self) -> &[u8] {
        self.open.stored_bytes()
    }

    /// Points within `range`, in time order.
    fn points_in(&self, range: TimeRange) -> Vec<Point> {
        let mut out = Vec::new();
        sealed_points_in(&self.sealed, range, &mut out);
        if self.open_overlaps(range) {
            self.open.points_in(range, &mut out);
        }
        out
    }

    fn open_overlaps(&self, range: TimeRange) -> bool {
        self.open
            .min_t()
            .zip(self.open.max_t())
            .is_some_and(|(min, max)| range.overlaps(min, max))
    }

    /// Appends the chunks that may hold points in `range` to `out`, each framed by its
    /// length (the open chunk sealed on the fly, through `scratch`), and returns the
    /// time span they cover; nothing and `None` if none may.
    pub(super) fn copy_framed(
        &self,
        range: TimeRange,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Option<(i64, i64)> {
        let sealed = SealedChunk::overlapping(&self.sealed, range);
        let open = self.open_overlaps(range);
        let min_t = sealed.first().map(|c| c.min_t).or(self.open.min_t())?;
        let max_t = if open {
            self.open.max_t()?
        } else {
            sealed.last()?.max_t
        };
        for c in sealed {
            out.extend_from_slice(&c.bytes);
        }
        if open {
            scratch.clear();
            self.open.write_chunk(scratch);
            put_bytes(out, scratch);
        }
        Some((min_t, max_t))
    }

    /// Seals the open chunk and takes every chunk as one entry, leaving the series
    /// empty: a freeze keeps just the bytes, not the open chunk's encoder state.
    fn take_joined(&mut self) -> Option<SealedChunk> {
        if !self.open.is_empty() {
            self.seal();
        }
        let all = std::mem::take(&mut self.sealed).into_vec();
        self.single = 0;
        join(all)
    }
}

/// One entry holding the chunks of consecutive entries, oldest first.
fn join(entries: Vec<SealedChunk>) -> Option<SealedChunk> {
    if entries.len() <= 1 {
        return entries.into_iter().next();
    }
    let (first, last) = (entries.first()?, entries.last()?);
    let (min_t, max_t) = (first.min_t, last.max_t);
    let bytes: Vec<u8> = entries
        .iter()
        .flat_map(|c| c.bytes.iter().copied())
        .collect();
    Some(SealedChunk {
        min_t,
        max_t,
        bytes: bytes.into_boxed_slice(),
    })
}

/// Appends the points of the sealed chunks within `range` to `out`, in time order.
fn sealed_points_in(sealed: &[SealedChunk], range: TimeRange, out: &mut Vec<Point>) {
    for c in SealedChunk::overlapping(sealed, range) {
        decode_framed(&c.bytes, range, out);
    }
}

pub struct MemSeries {
    pub labels: Labels,
    pub chunk: InOrderChunks,
    /// Samples that could not go to the chunk, in arrival order; normalised (sorted,
    /// last write kept per timestamp) now and then, so that backfilling a series in
    /// reverse order costs O(n log n), not O(n²). For equal timestamps it is always
    /// newer than the chunk: a timestamp goes to the chunk only if it is past
    /// everything seen. Boxed: most series never get one, and then it costs a pointer,
    /// not an empty vector.
    #[allow(clippy::box_collection)]
    ooo: Option<Box<Vec<Point>>>,
}

impl MemSeries {
    pub fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            chunk: InOrderChunks::default(),
            ooo: None,
        }
    }

    /// Adds a sample; returns true when it went to the out-of-order buffer.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if self.chunk.last().is_none_or(|last| t > last.t) {
            self.chunk.append(t, v);
            return false;
        }
        let ooo = self.ooo.get_or_insert_with(Box::default);
        match ooo.last_mut() {
            Some(last) if last.t == t => last.v = v,
            _ => {
                ooo.push(Point { t, v });
                if ooo.len() >= 32 && ooo.len().is_power_of_two() {
                    normalize(ooo);
                }
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.chunk.is_empty() && self.ooo.is_none()
    }

    /// Earliest and latest timestamps held, if any.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        bounds_with(self.chunk.min_t().zip(self.chunk.max_t()), self.ooo())
    }

    /// Points within `range`, in time order, the out-of-order buffer winning ties.
    pub fn points_in(&self, range: TimeRange) -> Vec<Point> {
        merge_with_ooo(self.chunk.points_in(range), self.ooo(), range)
    }

    /// The out-of-order points within `range`, sorted and unique (empty, without
    /// allocating, for a series written in order).
    pub(super) fn ooo_in(&self, range: TimeRange) -> Box<[Point]> {
        within(&normalized(self.ooo()), range).into()
    }

    fn ooo(&self) -> &[Point] {
        self.ooo.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Whether any point falls within `range`.
    pub fn has_data_in(&self, range: TimeRange) -> bool {
        match self.bounds() {
            None => false,
            Some((min, max)) if range.start <= min && max <= range.end => true,
            Some((min, max)) if !range.overlaps(min, max) => false,
            Some(_) => !self.points_in(range).is_empty(),
        }
    }
}

/// Sorts points by time keeping the last written of each timestamp.
fn normalize(points: &mut Vec<Point>) {
    if is_normal(points) {
        return;
    }
    // Stable: among equal timestamps the arrival order stays, and the last one is kept.
    points.sort_by_key(|p| p.t);
    let mut out = 0;
    for i in 0..points.len() {
        if out > 0 && points[out - 1].t == points[i].t {
            points[out - 1] = points[i];
        } else {
            points[out] = points[i];
            out += 1;
        }
    }
    points.truncate(out);
}

fn is_normal(points: &[Point]) -> bool {
    points.windows(2).all(|w| w[0].t < w[1].t)
}

/// The out-of-order points sorted and unique, copying only if they are not yet.
fn normalized(ooo: &[Point]) -> Cow<'_, [Point]> {
    if is_normal(ooo) {
        Cow::Borrowed(ooo)
    } else {
        let mut v = ooo.to_vec();
        normalize(&mut v);
        Cow::Owned(v)
    }
}

/// The time range of chunk bounds and out-of-order points together.
pub(super) fn bounds_with(chunks: Option<(i64, i64)>, ooo: &[Point]) -> Option<(i64, i64)> {
    let o = ooo
        .iter()
        .map(|p| p.t)
        .min()
        .zip(ooo.iter().map(|p| p.t).max());
    match (chunks, o) {
        (Some(c), Some(o)) => Some((c.0.min(o.0), c.1.max(o.1))),
        (c, o) => c.or(o),
    }
}

/// Chunk points within `range` merged with the out-of-order points in it, which win ties.
pub(super) fn merge_with_ooo(in_chunks: Vec<Point>, ooo: &[Point], range: TimeRange) -> Vec<Point> {
    merge_sorted(in_chunks, within(&normalized(ooo), range))
}

/// About how many chunks' decoding `bytes` of sealed chunks and `ooo` out-of-order
/// points cost (a chunk takes a few hundred bytes), to share a read's decoding evenly.
pub(super) fn decode_weight(bytes: usize, ooo: usize) -> usize {
    1 + bytes / 256 + ooo / 256
}

/// The part of sorted `points` within `range`.
fn within(points: &[Point], range: TimeRange) -> &[Point] {
    let lo = points.partition_point(|p| p.t < range.start);
    let hi = points.partition_point(|p| p.t <= range.end);
    &points[lo..hi]
}

/// A series taken out of the head to be written into a block: its labels, its
/// in-order points as one entry of sealed bytes (no encoder state) and its out-of-order
/// points, sorted and unique. Frozen series exist by the million during a flush.
pub struct FrozenSeries {
    pub labels: Labels,
    chunks: Option<SealedChunk>,
    ooo: Box<[Point]>,
}

impl FrozenSeries {
    /// Takes every sample out of `series`, leaving it empty.
    pub(super) fn take(series: &mut MemSeries) -> FrozenSeries {
        let mut ooo = series.ooo.take().map(|b| *b).unwrap_or_default();
        normalize(&mut ooo);
        FrozenSeries {
            labels: series.labels.clone(),
            chunks: series.chunk.take_joined(),
            ooo: ooo.into_boxed_slice(),
        }
    }

    pub fn points_in(&self, range: TimeRange) -> Vec<Point> {
        let mut in_chunks = Vec::new();
        sealed_points_in(self.chunks.as_slice(), range, &mut in_chunks);
        merge_with_ooo(in_chunks, &self.ooo, range)
    }

    /// About how many chunks' decoding the series' points cost (see [`decode_weight`]).
    pub fn weight(&self) -> usize {
        decode_weight(
            self.chunks.as_ref().map_or(0, |c| c.bytes.len()),
            self.ooo.len(),
        )
    }

    pub fn bounds(&self) -> Option<(i64, i64)> {
        let chunks = self.chunks.as_ref().map(|c| (c.min_t, c.max_t));
        bounds_with(chunks, &self.ooo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn out_of_order_and_rewrites_merge_last_write_wins() {
        let mut s = MemSeries::new(Labels::empty());
        assert!(!s.append(10, 1.0));
        assert!(!s.append(20, 2.0));
        assert!(s.append(5, 0.5));
        assert!(s.append(20, 2.5));
        assert!(s.append(5, 0.7));
        assert!(!s.append(30, 3.0));
        assert_eq!(
            s.points_in(TimeRange::ALL),
            pts(&[(5, 0.7), (10, 1.0), (20, 2.5), (30, 3.0)])
        );
        assert_eq!(
            s.points_in(TimeRange::new(6, 20)),
            pts(&[(10, 1.0), (20, 2.5)])
        );
        assert_eq!(s.bounds(), Some((5, 30)));
        assert!(s.has_data_in(TimeRange::new(11, 25)));
        assert!(!s.has_data_in(TimeRange::new(21, 29)));
    }

    #[test]
    fn ranges_across_sealed_chunks_match_a_plain_filter() {
        let open = OPEN_POINTS as i64;
        // Ending in merged entries only, or with single-chunk entries after them.
        for n in [
            3 * TARGET_POINTS as i64 + 17,
            5 * open,
            5 * open + 1,
            7 * open + 1,
        ] {
            // A chunk is sealed when a point arrives after it is full.
            let chunks = ((n - 1) / open) as usize;
            let sealed = chunks / usize::from(MERGED) + chunks % usize::from(MERGED);
            let mut s = MemSeries::new(Labels::empty());
            let all: Vec<Point> = (0..n)
                .map(|i| Point {
                    t: i * 10,
                    v: (i % 13) as f64 * 0.5,
                })
                .collect();
            for p in &all {
                s.append(p.t, p.v);
            }
            assert_eq!(s.chunk.sealed.len(), sealed, "{n} points");
            let last = all.last().unwrap().t;
            assert_eq!(s.bounds(), Some((0, last)));
            let edges = [
                -5,
                0,
                5,
                590,
                600,
                2390,
                2400,
                2405,
                4790,
                4800,
                7200,
                7790,
                7800,
                last - 10,
                last,
                last + 5,
            ];
            for &start in &edges {
                for &end in &edges {
                    let range = TimeRange::new(start, end);
                    let want: Vec<Point> = all
                        .iter()
                        .filter(|p| range.contains(p.t))
                        .copied()
                        .collect();
                    assert_eq!(s.points_in(range), want, "{n}: {start}..={end}");
                    assert_eq!(
                        s.has_data_in(range),
                        !want.is_empty(),
                        "{n}: {start}..={end}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_frozen_series_holds_what_the_series_held() {
        let mut s = MemSeries::new(Labels::empty());
        let n = 2 * OPEN_POINTS as i64 + 7;
        for t in (0..n).chain([3, 5, 5]) {
            s.append(t * 10, t as f64);
        }
        let ranges = [
            TimeRange::ALL,
            TimeRange::new(25, 1300),
            TimeRange::new(-9, 40),
        ];
        let before: Vec<Vec<Point>> = ranges.iter().map(|&r| s.points_in(r)).collect();
        let bounds = s.bounds();
        let frozen = FrozenSeries::take(&mut s);
        assert!(s.is_empty() && s.bounds().is_none());
        assert_eq!(frozen.bounds(), bounds);
        for (r, want) in ranges.iter().zip(before) {
            assert_eq!(frozen.points_in(*r), want, "{r:?}");
        }
        // The emptied series starts a new chunk.
        s.append(5, 1.0);
        assert_eq!(s.points_in(TimeRange::ALL), pts(&[(5, 1.0)]));
    }

    #[test]
    fn reverse_backfill_normalises_with_last_write_winning() {
        let mut s = MemSeries::new(Labels::empty());
        s.append(1_000_000, 0.0);
        for t in (0..10_000).rev() {
            s.append(t, t as f64);
        }
        s.append(5, 55.0);
        let pts = s.points_in(TimeRange::ALL);
        assert_eq!(pts.len(), 10_001);
        assert_eq!(pts[5], Point { t: 5, v: 55.0 });
        assert!(pts.windows(2).all(|w| w[0].t < w[1].t));
        assert_eq!(s.bounds(), Some((0, 1_000_000)));
    }
}
