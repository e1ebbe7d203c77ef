//! Discovery: which series, label names and label values the store holds, per source
//! (blocks, frozen heads, the head), without reading points where it can be avoided.

use super::*;
use crate::block::ChunkMeta;

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

    pub(super) fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let mut names = HashSet::new();
        if matchers.is_empty() {
            self.with_sources(range, |src| match src {
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

    pub(super) fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let mut values = HashSet::new();
        if matchers.is_empty() {
            self.with_sources(range, |src| match src {
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
        for b in blocks
            .iter()
            .filter(|b| range.overlaps(b.meta().min_t, b.meta().max_t))
        {
            for id in crate::index::select(&**b, matchers) {
                if let Some(entry) = b.series_in(id, range)? {
                    if has_point_in(b, &entry.chunks, range)? {
                        f(&entry.labels);
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
                if !s.points_in(range).is_empty() {
                    f(&s.labels);
                }
            }
        }
        Ok(())
    }

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
