//! The read path: sources (blocks, frozen heads, the head) visited oldest write first
//! and merged so that later writes win; discovery answered per source.

use super::*;
use crate::order::cmp_labels;

impl Inner {
    /// Calls `f` for every matching series in every source, oldest write first, with
    /// its points in `range`.
    pub(super) fn visit(
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
                if let Some(entry) = b.series_in(id, range)? {
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

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        // Every part found, oldest write first; a stable sort by labels keeps that
        // order among the parts of one series, for merging.
        let mut parts: Vec<(Labels, Vec<Point>)> = Vec::new();
        self.inner
            .visit(matchers, range, &mut |l, pts| parts.push((l.clone(), pts)))?;
        parts.sort_by(|a, b| cmp_labels(&a.0, &b.0));
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
