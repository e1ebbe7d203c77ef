//! One series in the head: its labels, an in-order compressed chunk and a small sorted
//! buffer for samples that arrive out of order (or rewrite an existing timestamp).

use crate::chunk::HeadChunk;
use strata_core::{Labels, Point, TimeRange};

pub struct MemSeries {
    pub labels: Labels,
    pub chunk: HeadChunk,
    /// Sorted by time, unique timestamps. For equal timestamps it is always newer than
    /// the chunk: a timestamp goes to the chunk only if it is past everything seen.
    pub ooo: Vec<Point>,
}

impl MemSeries {
    pub fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            chunk: HeadChunk::new(),
            ooo: Vec::new(),
        }
    }

    /// Adds a sample; returns true when it went to the out-of-order buffer.
    pub fn append(&mut self, t: i64, v: f64) -> bool {
        if self.chunk.last().is_none_or(|last| t > last.t) {
            self.chunk.append(t, v);
            return false;
        }
        match self.ooo.binary_search_by_key(&t, |p| p.t) {
            Ok(i) => self.ooo[i].v = v,
            Err(i) => self.ooo.insert(i, Point { t, v }),
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.chunk.is_empty() && self.ooo.is_empty()
    }

    pub fn sample_count(&self) -> usize {
        self.chunk.len() + self.ooo.len()
    }

    /// Earliest and latest timestamps held, if any.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        bounds(&self.chunk, &self.ooo)
    }

    /// Points within `range`, in time order, the out-of-order buffer winning ties.
    pub fn points_in(&self, range: TimeRange) -> Vec<Point> {
        points_in(&self.chunk, &self.ooo, range)
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

pub(crate) fn bounds(chunk: &HeadChunk, ooo: &[Point]) -> Option<(i64, i64)> {
    let c = chunk.min_t().zip(chunk.max_t());
    let o = ooo.first().zip(ooo.last()).map(|(a, b)| (a.t, b.t));
    match (c, o) {
        (Some(c), Some(o)) => Some((c.0.min(o.0), c.1.max(o.1))),
        (c, o) => c.or(o),
    }
}

pub(crate) fn points_in(chunk: &HeadChunk, ooo: &[Point], range: TimeRange) -> Vec<Point> {
    let in_chunk = match (chunk.min_t(), chunk.max_t()) {
        (Some(min), Some(max)) if range.overlaps(min, max) => {
            let mut pts = chunk.points();
            pts.retain(|p| range.contains(p.t));
            pts
        }
        _ => Vec::new(),
    };
    let lo = ooo.partition_point(|p| p.t < range.start);
    let hi = ooo.partition_point(|p| p.t <= range.end);
    merge_sorted(in_chunk, &ooo[lo..hi])
}

/// Merges two sorted, unique point lists; on equal timestamps `newer` wins.
pub(crate) fn merge_sorted(older: Vec<Point>, newer: &[Point]) -> Vec<Point> {
    if newer.is_empty() {
        return older;
    }
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut j = 0;
    for p in older {
        while j < newer.len() && newer[j].t < p.t {
            out.push(newer[j]);
            j += 1;
        }
        if j < newer.len() && newer[j].t == p.t {
            continue;
        }
        out.push(p);
    }
    out.extend_from_slice(&newer[j..]);
    out
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
        assert_eq!(s.sample_count(), 5);
    }
}
