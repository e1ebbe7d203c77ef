//! A read's copy of head series: their labels, and their chunks that may hold points in
//! the read's range as sealed bytes (the open chunk sealed on the fly), with their
//! out-of-order points in it. A read copies under the cut lock, a few bytes a point
//! into one buffer per copy (rather than an allocation per series), and decodes after
//! releasing it, on whichever thread takes the series' batch.

use super::series::{bounds_with, decode_framed, decode_weight, merge_with_ooo, MemSeries};
use std::ops::Range;
use strata_core::{Labels, Point, TimeRange};

/// Copies of head series, in the order they were copied.
#[derive(Default)]
pub struct HeadCopy {
    /// Every series' chunks, each framed by its length.
    bytes: Vec<u8>,
    series: Vec<CopiedSeries>,
    /// Where the open chunk is sealed before it is framed.
    scratch: Vec<u8>,
}

struct CopiedSeries {
    labels: Labels,
    chunks: Range<usize>,
    /// The time span of the chunks and the out-of-order points.
    min_t: i64,
    max_t: i64,
    /// Sorted and unique; empty, without an allocation, for a series written in order.
    ooo: Box<[Point]>,
}

impl HeadCopy {
    /// Copies what `series` holds that may be in `range`, if anything.
    pub(super) fn push(&mut self, series: &MemSeries, range: TimeRange) {
        let start = self.bytes.len();
        let span = series
            .chunk
            .copy_framed(range, &mut self.bytes, &mut self.scratch);
        let ooo = series.ooo_in(range);
        let Some((min_t, max_t)) = bounds_with(span, &ooo) else {
            return;
        };
        self.series.push(CopiedSeries {
            labels: series.labels.clone(),
            chunks: start..self.bytes.len(),
            min_t,
            max_t,
            ooo,
        });
    }

    /// A copy of `series` alone.
    #[cfg(test)]
    pub fn of(series: &MemSeries, range: TimeRange) -> HeadCopy {
        let mut copy = HeadCopy::default();
        copy.push(series, range);
        copy
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn labels(&self, i: usize) -> &Labels {
        &self.series[i].labels
    }

    /// The earliest and latest time series `i` may have a point at.
    pub fn bounds(&self, i: usize) -> (i64, i64) {
        (self.series[i].min_t, self.series[i].max_t)
    }

    /// About how many chunks' decoding series `i` costs.
    pub fn weight(&self, i: usize) -> usize {
        let s = &self.series[i];
        decode_weight(s.chunks.len(), s.ooo.len())
    }

    /// Appends the points of series `i` within `range` to `out`, in time order, the
    /// out-of-order points winning ties.
    pub fn points_into(&self, i: usize, range: TimeRange, out: &mut Vec<Point>) {
        let s = &self.series[i];
        let chunks = &self.bytes[s.chunks.clone()];
        if s.ooo.is_empty() {
            decode_framed(chunks, range, out);
        } else {
            let mut in_chunks = Vec::new();
            decode_framed(chunks, range, &mut in_chunks);
            out.extend(merge_with_ooo(in_chunks, &s.ooo, range));
        }
    }
}

/// A read's copies of head series, apart by whether the series have a place in label
/// order (see [`super::Head::rank_series`]).
#[derive(Default)]
pub struct HeadCopies {
    pub ranked: HeadCopy,
    /// The places of the `ranked` series, in their order.
    pub ranks: Vec<u32>,
    pub unranked: HeadCopy,
}

impl HeadCopies {
    pub(super) fn push(&mut self, series: &MemSeries, range: TimeRange, rank: Option<u32>) {
        match rank {
            Some(rank) => {
                let before = self.ranked.len();
                self.ranked.push(series, range);
                if self.ranked.len() > before {
                    self.ranks.push(rank);
                }
            }
            None => self.unranked.push(series, range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn copies_read_back_the_series_points_in_range() {
        let mut a = MemSeries::new(Labels::new([("s", "a")]).unwrap());
        for t in 0..600 {
            a.append(t * 10, t as f64);
        }
        let mut b = MemSeries::new(Labels::new([("s", "b")]).unwrap());
        for t in [50, 10, 30, 30] {
            b.append(t, t as f64 / 10.0);
        }
        let quiet = MemSeries::new(Labels::new([("s", "c")]).unwrap());
        for range in [
            TimeRange::ALL,
            TimeRange::new(25, 3000),
            TimeRange::new(5990, 9000),
        ] {
            let mut copy = HeadCopy::default();
            for s in [&a, &quiet, &b] {
                copy.push(s, range);
            }
            let mut got = Vec::new();
            for i in 0..copy.len() {
                let mut points = Vec::new();
                copy.points_into(i, range, &mut points);
                let (min, max) = copy.bounds(i);
                assert!(points.iter().all(|p| min <= p.t && p.t <= max));
                got.push((copy.labels(i).clone(), points));
            }
            let want: Vec<(Labels, Vec<Point>)> = [&a, &b]
                .into_iter()
                .map(|s| (s.labels.clone(), s.points_in(range)))
                .filter(|(_, p)| !p.is_empty())
                .collect();
            // A copy may hold a series whose chunk spans the range without a point in it.
            got.retain(|(_, p)| !p.is_empty());
            assert_eq!(got, want, "{range:?}");
        }
        assert_eq!(
            b.points_in(TimeRange::ALL),
            pts(&[(10, 1.0), (30, 3.0), (50, 5.0)])
        );
    }
}
