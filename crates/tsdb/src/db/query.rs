//! The read path: sources (blocks, frozen heads, the head) visited oldest write first
//! and merged so that later writes win. Discovery is in `discovery.rs`.
//!
//! A select reads every part of every matching series into one point buffer, orders
//! the parts by label set (oldest part of a series first) with a single sort of
//! precomputed byte keys kept in one buffer, and lends each merged series to the caller
//! in turn: a selection of many short series, the real-time query's shape, allocates
//! per selection rather than per series.
//!
//! Decoding is not spread over threads here: measured on the query bench, the points
//! allocated by short-lived decoding threads were returned to the OS by glibc's
//! allocator after each query and faulted in again by the next, which cost more than
//! the second core saved.

use super::*;
use std::ops::ControlFlow;
use strata_core::{metadata_of, SpareBuffers};

/// Appends a byte string whose plain byte order is the order of label sets (label by
/// label, name then value, as `Labels`' `Ord`): each string with bytes 0 and 1 escaped
/// as `1 1` and `1 2`, then ended by a 0, which sorts before every byte of an escaped
/// string, so a string sorts before its extensions and a set before its extensions.
fn push_label_order_key(labels: &Labels, key: &mut Vec<u8>) {
    for s in labels.byte_pairs().flat_map(|(name, value)| [name, value]) {
        if s.iter().all(|&b| b > 1) {
            key.extend_from_slice(s);
        } else {
            for &b in s {
                if b <= 1 {
                    key.extend_from_slice(&[1, b + 1]);
                } else {
                    key.push(b);
                }
            }
        }
        key.push(0);
    }
}

/// A big select's point and key buffers, kept for the next (see [`SpareBuffers`]).
static SPARE_POINTS: SpareBuffers<Point> = SpareBuffers::new(8 << 20);
static SPARE_KEYS: SpareBuffers<u8> = SpareBuffers::new(2 << 20);

/// Parts of at least this many points keep a vector of their own; shorter ones share
/// one buffer. Short series are the real-time query's shape, where an allocation per
/// series costs more than decoding it; long ones would make that buffer, and each
/// regrowth of it, tens of megabytes.
const OWN_VEC_POINTS: usize = 256;

/// Where a part's points are.
enum PartPoints {
    Shared(std::ops::Range<usize>),
    Own(Vec<Point>),
}

/// Every part of every matching series (one series' points from one source), oldest
/// write first.
struct Parts {
    labels: Vec<Labels>,
    points: Vec<PartPoints>,
    shared: Vec<Point>,
    /// The points of the part being read.
    scratch: Vec<Point>,
}

impl Drop for Parts {
    fn drop(&mut self) {
        SPARE_POINTS.give_back(std::mem::take(&mut self.shared));
    }
}

impl Parts {
    fn new() -> Parts {
        Parts {
            labels: Vec::new(),
            points: Vec::new(),
            shared: SPARE_POINTS.take(),
            scratch: Vec::new(),
        }
    }

    fn get(&self, i: usize) -> &[Point] {
        match &self.points[i] {
            PartPoints::Shared(r) => &self.shared[r.clone()],
            PartPoints::Own(v) => v,
        }
    }

    /// Ends the part read into `scratch`, if it has points.
    fn close(&mut self, labels: &Labels) {
        if self.scratch.len() >= OWN_VEC_POINTS {
            // The next series is likely as long: its buffer is sized so, not copied.
            let next = Vec::with_capacity(self.scratch.len());
            let points = std::mem::replace(&mut self.scratch, next);
            self.own_part(labels, points);
        } else if !self.scratch.is_empty() {
            let start = self.shared.len();
            self.shared.extend_from_slice(&self.scratch);
            self.shared_part(labels, start);
        }
        self.scratch.clear();
    }

    fn push(&mut self, labels: &Labels, points: Vec<Point>) {
        if points.len() >= OWN_VEC_POINTS {
            self.own_part(labels, points);
        } else if !points.is_empty() {
            let start = self.shared.len();
            self.shared.extend_from_slice(&points);
            self.shared_part(labels, start);
        }
    }

    fn own_part(&mut self, labels: &Labels, points: Vec<Point>) {
        self.labels.push(labels.clone());
        self.points.push(PartPoints::Own(points));
    }

    /// Adds the part whose points are the shared buffer's from `start` on.
    fn shared_part(&mut self, labels: &Labels, start: usize) {
        self.labels.push(labels.clone());
        self.points
            .push(PartPoints::Shared(start..self.shared.len()));
    }

    /// Part indexes in label order, the parts of one series oldest first: one sort of
    /// byte keys held in a single buffer.
    fn label_order(&self) -> Vec<u32> {
        let mut keys = SPARE_KEYS.take();
        let mut key_ends = Vec::with_capacity(self.labels.len());
        for l in &self.labels {
            push_label_order_key(l, &mut keys);
            key_ends.push(keys.len());
        }
        let key = |i: u32| {
            let i = i as usize;
            let start = if i == 0 { 0 } else { key_ends[i - 1] };
            &keys[start..key_ends[i]]
        };
        let mut order: Vec<u32> = (0..self.labels.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
        SPARE_KEYS.give_back(keys);
        order
    }

    /// Calls `f` with each series in label order, its parts merged (later writes win).
    fn visit(&mut self, f: &mut dyn FnMut(&Labels, &mut Vec<Point>) -> ControlFlow<()>) {
        let order = self.label_order();
        let mut lent = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let first = order[i] as usize;
            let n = order[i..]
                .iter()
                .take_while(|&&k| self.labels[k as usize] == self.labels[first])
                .count();
            let flow = if n > 1 {
                let lists: Vec<&[Point]> = order[i..i + n]
                    .iter()
                    .map(|&k| self.get(k as usize))
                    .collect();
                f(&self.labels[first], &mut merge(&lists))
            } else if let PartPoints::Own(points) = &mut self.points[first] {
                f(&self.labels[first], points)
            } else {
                lent.clear();
                lent.extend_from_slice(self.get(first));
                f(&self.labels[first], &mut lent)
            };
            if flow.is_break() {
                return;
            }
            i += n;
        }
    }
}

/// The parts of one series merged, oldest write first: when each starts after the one
/// before ends (a series running through consecutive blocks, the usual case) they are
/// copied once into a vector of the right size.
fn merge(lists: &[&[Point]]) -> Vec<Point> {
    let ascending = lists
        .windows(2)
        .all(|w| matches!((w[0].last(), w[1].first()), (Some(a), Some(b)) if a.t < b.t));
    if ascending {
        lists.concat()
    } else {
        merge_last_wins(lists.iter().map(|l| l.to_vec()).collect())
    }
}

/// What one select reads: the blocks and frozen heads of the moment, and the head's
/// matching series.
struct ReadSnapshot {
    blocks: Arc<Vec<Arc<Block>>>,
    frozen: Vec<Arc<Frozen>>,
    head: Vec<(Labels, Vec<Point>)>,
}

impl Inner {
    /// The blocks and frozen heads, with the head's matching series read, all under
    /// the cut lock, so no sample is seen twice or missed.
    fn read_snapshot(&self, matchers: &[Matcher], range: TimeRange) -> ReadSnapshot {
        // The head is read under the cut lock, so none of its samples can move to a
        // frozen head we did not snapshot; blocks and frozen heads are immutable and
        // read after releasing it, so a long query never holds up a cut (and appenders).
        let _no_cut = self.cut_lock.read();
        let (blocks, frozen) = self.snapshot();
        let mut head = Vec::new();
        self.head
            .select(matchers, range, |l, p| head.push((l.clone(), p)));
        ReadSnapshot {
            blocks,
            frozen,
            head,
        }
    }

    /// Every part of every matching series, oldest write first: blocks, frozen heads,
    /// then the head.
    fn parts(&self, matchers: &[Matcher], range: TimeRange) -> Result<Parts, StorageError> {
        let ReadSnapshot {
            blocks,
            frozen,
            head,
        } = self.read_snapshot(matchers, range);
        let mut parts = Parts::new();
        for b in blocks.iter() {
            b.each_series_in(matchers, range, |labels, chunks| {
                b.read_points(chunks, range, &mut parts.scratch)?;
                parts.close(labels);
                Ok(())
            })?;
        }
        for fz in &frozen {
            for s in fz.matching(matchers) {
                parts.push(&s.labels, s.points_in(range));
            }
        }
        for (labels, points) in head {
            parts.push(&labels, points);
        }
        Ok(parts)
    }
}

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::new();
        self.select_each(matchers, range, &mut |labels, points| {
            out.push(Series {
                labels: labels.clone(),
                points: std::mem::take(points),
            });
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    fn select_each(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        f: &mut dyn FnMut(&Labels, &mut Vec<Point>) -> ControlFlow<()>,
    ) -> Result<(), StorageError> {
        self.inner.parts(matchers, range)?.visit(f);
        Ok(())
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
        db.select_each(&[], range, &mut |l, p| {
            seen.push(Series {
                labels: l.clone(),
                points: p.clone(),
            });
            if seen.len() == 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, got[..7]);
    }

    fn label_sets() -> impl Strategy<Value = Labels> {
        // Few names and values, with the escaped bytes, prefixes of one another,
        // non-ASCII and long (two-byte lengths), so that equal prefixes and every
        // escape are common.
        let value = prop_oneof!["[ab]{0,3}", "[a\u{0}\u{1}\u{2}é]{0,3}", "a{126,130}"];
        proptest::collection::btree_map("[ab_]{1,2}", value, 0..4)
            .prop_map(|m| Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap())
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
        fn merged_parts_are_what_merge_last_wins_gives(lists in point_lists()) {
            let slices: Vec<&[Point]> = lists.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(merge(&slices), merge_last_wins(lists.clone()));
        }

        #[test]
        fn order_keys_sort_as_label_sets(a in label_sets(), b in label_sets()) {
            let key = |l: &Labels| {
                let mut k = Vec::new();
                push_label_order_key(l, &mut k);
                k
            };
            prop_assert_eq!(key(&a).cmp(&key(&b)), a.cmp(&b));
        }
    }

    /// `series` reports a series only when it has a point in the range, even when a
    /// block chunk spans the range without a point inside it.
    #[test]
    fn series_needs_a_point_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        let samples = [0, 100]
            .iter()
            .map(|&t| strata_core::Sample {
                labels: labels(1),
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
}
