//! The read path: sources (blocks, frozen heads, the head) visited oldest write first
//! and merged so that later writes win. Discovery is in `discovery.rs`.
//!
//! Decoding is not spread over threads here: measured on the query bench, the points
//! allocated by short-lived decoding threads were returned to the OS by glibc's
//! allocator after each query and faulted in again by the next, which cost more than
//! the second core saved.

use super::*;
use strata_core::metadata_of;

/// One series' points from one source.
type Part = (Labels, Vec<Point>);

/// A byte string whose plain byte order is the order of label sets (label by label,
/// name then value, as `Labels`' `Ord`): each string with bytes 0 and 1 escaped as `1 1`
/// and `1 2`, then ended by a 0, which sorts before every byte of an escaped string,
/// so a string sorts before its extensions and a set before its extensions.
fn label_order_key(labels: &Labels) -> Vec<u8> {
    let mut key = Vec::with_capacity(labels.as_bytes().len() + 8);
    for s in labels.byte_pairs().flat_map(|(name, value)| [name, value]) {
        for &b in s {
            if b <= 1 {
                key.extend_from_slice(&[1, b + 1]);
            } else {
                key.push(b);
            }
        }
        key.push(0);
    }
    key
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
    fn parts(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Part>, StorageError> {
        let ReadSnapshot {
            blocks,
            frozen,
            head,
        } = self.read_snapshot(matchers, range);
        let mut parts = Vec::new();
        for b in blocks
            .iter()
            .filter(|b| range.overlaps(b.meta().min_t, b.meta().max_t))
        {
            for id in crate::index::select(&**b, matchers) {
                if let Some(entry) = b.series_in(id, range)? {
                    let mut pts = Vec::new();
                    b.read_points(&entry.chunks, range, &mut pts)?;
                    if !pts.is_empty() {
                        parts.push((entry.labels, pts));
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
                    parts.push((s.labels.clone(), pts));
                }
            }
        }
        parts.extend(head);
        Ok(parts)
    }
}

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        // Parts of one series are brought together by a stable sort on their encoded
        // labels (a plain memcmp, and each block's series already come in that order),
        // which keeps their oldest-write-first order for merging. Only the merged
        // series are then put in label order, comparing precomputed keys.
        let mut parts = self.inner.parts(matchers, range)?;
        parts.sort_by(|a, b| series_order(&a.0, &b.0));
        let mut out: Vec<Series> = Vec::with_capacity(parts.len());
        let mut parts = parts.into_iter().peekable();
        while let Some((labels, points)) = parts.next() {
            let mut lists = vec![points];
            while let Some((_, more)) = parts.next_if(|(next, _)| *next == labels) {
                lists.push(more);
            }
            out.push(Series {
                labels,
                points: merge_last_wins(lists),
            });
        }
        out.sort_by_cached_key(|s| label_order_key(&s.labels));
        Ok(out)
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

    fn open(dir: &Path) -> Tsdb {
        let opts = Options {
            wal_sync: crate::WalSync::Off,
            retention: None,
            maintenance_interval: Duration::from_secs(3600),
            ..Options::default()
        };
        Tsdb::open(dir, opts).unwrap()
    }

    /// Blocks that overlap (the later write wins on shared timestamps) or follow one
    /// another, and the head.
    #[test]
    fn parts_of_blocks_and_head_merge_with_later_writes_winning() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
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
    }

    fn label_sets() -> impl Strategy<Value = Labels> {
        // Few names and values, with the escaped bytes, prefixes of one another,
        // non-ASCII and long (two-byte lengths), so that equal prefixes and every
        // escape are common.
        let value = prop_oneof!["[ab]{0,3}", "[a\u{0}\u{1}\u{2}é]{0,3}", "a{126,130}"];
        proptest::collection::btree_map("[ab_]{1,2}", value, 0..4)
            .prop_map(|m| Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap())
    }

    proptest! {
        #[test]
        fn order_keys_sort_as_label_sets(a in label_sets(), b in label_sets()) {
            prop_assert_eq!(label_order_key(&a).cmp(&label_order_key(&b)), a.cmp(&b));
        }
    }

    /// `series` reports a series only when it has a point in the range, even when a
    /// block chunk spans the range without a point inside it.
    #[test]
    fn series_needs_a_point_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path());
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
