//! Discovery: which series, label names and label values the store holds, per source
//! (blocks, frozen heads, the head), without reading points where it can be avoided.

use super::*;
use crate::block::ChunkMeta;
use crate::index::sorted;

/// Whether any of `chunks` holds a point in `range`. A chunk whose first or last
/// point is in the range does; one spanning the whole range must be decoded to tell.
fn has_point_in(b: &Block, chunks: &[ChunkMeta], range: TimeRange) -> Result<bool, StorageError> {
    for c in chunks.iter().filter(|c| range.overlaps(c.min_t, c.max_t)) {
        if range.contains(c.min_t) || range.contains(c.max_t) {
            return Ok(true);
        }
        let mut pts = Vec::new();
        b.read_points(std::slice::from_ref(c), range, &mut pts)?;
        if !pts.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Inner {
    /// Label sets of the series matching `matchers` with a point in `range`, sorted.
    pub(super) fn series(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut found = Vec::new();
        self.visit_labels(matchers, range, &mut |l| found.push(l.clone()))?;
        found.sort_unstable_by(|a, b| a.byte_pairs().cmp(b.byte_pairs()));
        found.dedup();
        Ok(found)
    }

    /// Label names of the series matching `matchers` (of every series in a source
    /// overlapping `range` when there are none), sorted.
    pub(super) fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        if !matchers.is_empty() {
            let series = self.series(matchers, range)?;
            return Ok(distinct(
                series.iter().flat_map(|l| l.iter().map(|l| l.name)),
            ));
        }
        let src = self.sources(range, |head| head.label_names(range));
        let mut runs: Vec<Vec<&str>> = vec![src.head.iter().map(String::as_str).collect()];
        runs.extend(src.blocks.iter().map(|b| b.label_names()));
        runs.push(frozen_run(&src.frozen, range, |l| {
            l.iter().map(|l| l.name).collect()
        }));
        Ok(union(&runs))
    }

    /// Values of label `name` among the series matching `matchers` (among every series
    /// in a source overlapping `range` when there are none), sorted.
    pub(super) fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        if !matchers.is_empty() {
            let series = self.series(matchers, range)?;
            return Ok(distinct(series.iter().filter_map(|l| l.get(name))));
        }
        let src = self.sources(range, |head| head.label_values(name, range));
        let head = src.head.as_deref().map(|h| h.iter().collect());
        let mut runs: Vec<Vec<&str>> = vec![head.unwrap_or_default()];
        runs.extend(src.blocks.iter().map(|b| b.label_values(name)));
        runs.push(frozen_run(&src.frozen, range, |l| {
            l.get(name).into_iter().collect()
        }));
        Ok(union(&runs))
    }

    /// Calls `f` for the labels of every matching series in every source with data in
    /// `range`, without reading block points.
    fn visit_labels(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        f: &mut dyn FnMut(&Labels),
    ) -> Result<(), StorageError> {
        let (blocks, frozen) = {
            let _no_cut = self.cut_lock.read();
            self.head.series(matchers, range, |l| f(l));
            self.snapshot()
        };
        for b in blocks.iter() {
            b.each_series_in(matchers, range, |series| {
                if has_point_in(b, series.chunks, range)? {
                    f(&series.labels);
                }
                Ok(())
            })?;
        }
        for fz in &frozen {
            for s in fz.matching(matchers) {
                if frozen_has_point_in(s, range) {
                    f(&s.labels);
                }
            }
        }
        Ok(())
    }

    /// What discovery without matchers reads: the head's answer (`head`, run under
    /// the cut lock, so no sample is in both the head and a frozen head we miss), and
    /// the blocks overlapping `range` and the frozen series of that moment.
    fn sources<T>(&self, range: TimeRange, head: impl FnOnce(&Head) -> T) -> Sources<T> {
        let (head, (blocks, frozen)) = {
            let _no_cut = self.cut_lock.read();
            (head(&self.head), self.snapshot())
        };
        let blocks = blocks
            .iter()
            .filter(|b| range.overlaps(b.meta().min_t, b.meta().max_t))
            .cloned()
            .collect();
        Sources {
            head,
            blocks,
            frozen,
        }
    }
}

/// See [`Inner::sources`].
struct Sources<T> {
    head: T,
    blocks: Vec<Arc<Block>>,
    frozen: Vec<Arc<Frozen>>,
}

/// What `strs` of the frozen series with a point in `range` give, sorted: one run.
fn frozen_run<'a>(
    frozen: &'a [Arc<Frozen>],
    range: TimeRange,
    strs: impl Fn(&'a Labels) -> Vec<&'a str>,
) -> Vec<&'a str> {
    let mut run: Vec<&str> = frozen
        .iter()
        .flat_map(|fz| fz.series.iter())
        .filter(|s| frozen_has_point_in(s, range))
        .flat_map(|s| strs(&s.labels))
        .collect();
    run.sort_unstable();
    run.dedup();
    run
}

/// Whether a frozen series has a point in `range`, decoding only when its bounds
/// straddle the range.
fn frozen_has_point_in(s: &FrozenSeries, range: TimeRange) -> bool {
    match s.bounds() {
        Some((min, max)) if range.overlaps(min, max) => {
            range.contains(min) || range.contains(max) || !s.points_in(range).is_empty()
        }
        _ => false,
    }
}

/// The sorted union of sorted runs, as the storage traits answer it.
fn union(runs: &[Vec<&str>]) -> Vec<String> {
    let slices: Vec<&[&str]> = runs.iter().map(Vec::as_slice).collect();
    sorted::to_owned(&sorted::union(&slices))
}

/// The distinct strings of `strs`, sorted.
fn distinct<'a>(strs: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut all: Vec<&str> = strs.collect();
    all.sort_unstable();
    all.dedup();
    sorted::to_owned(&all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::{MatchOp, MemStorage, Sample};

    /// Series `first..last` of a set whose labels share some values and not others,
    /// with one point each at `t` seconds.
    fn batch(series: std::ops::Range<usize>, t: i64) -> WriteBatch {
        let samples = series
            .map(|i| {
                let mut pairs = vec![
                    ("__name__", format!("m{}", i % 3)),
                    ("instance", format!("host-{:03}", i % 40)),
                    ("i", i.to_string()),
                ];
                if i % 7 == 0 {
                    pairs.push(("rare", format!("r{}", i % 5)));
                }
                Sample {
                    labels: Labels::new(pairs).unwrap(),
                    t: t * 1000,
                    v: i as f64,
                }
            })
            .collect();
        WriteBatch {
            samples,
            metadata: vec![],
        }
    }

    /// Two blocks and the head, with overlapping and distinct values, answer as the
    /// reference store does; a range only the head overlaps answers from the head.
    #[test]
    fn names_and_values_of_blocks_and_head_match_the_reference_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_for_test(dir.path());
        let reference = MemStorage::new();
        for (series, t) in [(0..120, 10), (80..200, 7300)] {
            let b = batch(series, t);
            db.append(&b).unwrap();
            reference.append(&b).unwrap();
            db.flush().unwrap();
        }
        let head = batch(190..260, 20_000);
        db.append(&head).unwrap();
        reference.append(&head).unwrap();

        let selectors = [
            vec![],
            vec![Matcher::equal("__name__", "m1")],
            vec![Matcher::new(MatchOp::Regex, "instance", "host-0[12].").unwrap()],
        ];
        for ms in &selectors {
            assert_eq!(
                db.label_names(ms, TimeRange::ALL).unwrap(),
                reference.label_names(ms, TimeRange::ALL).unwrap(),
                "{ms:?}"
            );
            for name in ["__name__", "instance", "i", "rare", "absent"] {
                assert_eq!(
                    db.label_values(name, ms, TimeRange::ALL).unwrap(),
                    reference.label_values(name, ms, TimeRange::ALL).unwrap(),
                    "{name} {ms:?}"
                );
            }
        }
        let head_only = TimeRange::new(19_000_000, 21_000_000);
        let want: Vec<String> = {
            let mut v: Vec<String> = (190..260).map(|i: usize| i.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(db.label_values("i", &[], head_only).unwrap(), want);
        assert_eq!(
            db.label_names(&[], head_only).unwrap(),
            ["__name__", "i", "instance", "rare"]
        );
    }
}
