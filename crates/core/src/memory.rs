//! A plain in-memory store: the reference implementation of the storage traits, used by
//! tests of the stages around a store. It is neither durable nor compact; the embedded
//! TSDB is the real store.

use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metadata::{metadata_of, MetricMetadata};
use crate::sample::{Point, Series};
use crate::storage::{AppendStats, Appender, Querier, StorageError, WriteBatch};
use crate::time::TimeRange;
use parking_lot::RwLock;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Default)]
pub struct MemStorage {
    series: RwLock<BTreeMap<Labels, BTreeMap<i64, f64>>>,
    metadata: RwLock<HashMap<String, MetricMetadata>>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    fn matching<T>(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        mut f: impl FnMut(&Labels, Vec<Point>) -> Option<T>,
    ) -> Vec<T> {
        let series = self.series.read();
        series
            .iter()
            .filter(|(l, _)| Matcher::all_match(matchers, l))
            .filter_map(|(l, pts)| {
                let points: Vec<Point> = pts
                    .range(range.start..=range.end)
                    .map(|(&t, &v)| Point { t, v })
                    .collect();
                (!points.is_empty()).then(|| f(l, points)).flatten()
            })
            .collect()
    }
}

impl Appender for MemStorage {
    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError> {
        let mut series = self.series.write();
        let mut stats = AppendStats::default();
        for s in &batch.samples {
            let points = series.entry(s.labels.clone()).or_insert_with(|| {
                stats.new_series += 1;
                BTreeMap::new()
            });
            points.insert(s.t, s.v);
            stats.samples += 1;
        }
        let mut metadata = self.metadata.write();
        for m in &batch.metadata {
            metadata.insert(m.metric.clone(), m.clone());
        }
        Ok(stats)
    }
}

impl Querier for MemStorage {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        Ok(self.matching(matchers, range, |labels, points| {
            Some(Series {
                labels: labels.clone(),
                points,
            })
        }))
    }

    fn series(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Labels>, StorageError> {
        Ok(self.matching(matchers, range, |l, _| Some(l.clone())))
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let mut names = BTreeSet::new();
        for l in self.series(matchers, range)? {
            names.extend(l.iter().map(|l| l.name.to_owned()));
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        let values: BTreeSet<String> = self
            .series(matchers, range)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        Ok(values.into_iter().collect())
    }

    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        Ok(metadata_of(self.metadata.read().values(), metric))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MatchOp, Sample};

    fn sample(name: &str, job: &str, t: i64, v: f64) -> Sample {
        Sample {
            labels: Labels::new([("__name__", name), ("job", job)]).unwrap(),
            t,
            v,
        }
    }

    /// The default `select_each` lists every selected series, then lends each
    /// numbered as listed, and stops where the visitor breaks.
    #[test]
    fn select_each_lists_then_lends_in_order() {
        let s = MemStorage::new();
        let samples = ["a", "b", "c"]
            .map(|job| sample("up", job, 10, 1.0))
            .to_vec();
        s.append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .unwrap();
        struct Record(usize, Vec<(usize, String)>);
        impl crate::SeriesVisitor for Record {
            fn expect(
                &mut self,
                labels: &mut dyn ExactSizeIterator<Item = &Labels>,
            ) -> std::ops::ControlFlow<()> {
                self.0 = labels.len();
                std::ops::ControlFlow::Continue(())
            }
            fn series(
                &mut self,
                i: usize,
                l: &Labels,
                _: &mut Vec<crate::Point>,
            ) -> std::ops::ControlFlow<()> {
                self.1.push((i, l.get("job").unwrap().to_owned()));
                if i == 1 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            }
        }
        let mut seen = Record(0, Vec::new());
        s.select_each(&[], TimeRange::new(0, 100), &mut seen)
            .unwrap();
        assert_eq!(seen.0, 3);
        assert_eq!(seen.1, vec![(0, "a".to_owned()), (1, "b".to_owned())]);
    }

    #[test]
    fn last_write_wins_and_ranges_filter() {
        let s = MemStorage::new();
        let batch = WriteBatch {
            samples: vec![
                sample("up", "a", 10, 1.0),
                sample("up", "a", 10, 2.0),
                sample("up", "b", 20, 3.0),
            ],
            metadata: vec![],
        };
        let stats = s.append(&batch).unwrap();
        assert_eq!(
            stats,
            AppendStats {
                samples: 3,
                new_series: 2
            }
        );
        let got = s
            .select(&[Matcher::equal("job", "a")], TimeRange::ALL)
            .unwrap();
        assert_eq!(got[0].points, vec![Point { t: 10, v: 2.0 }]);
        let re = Matcher::new(MatchOp::Regex, "job", "a|b").unwrap();
        assert_eq!(s.select(&[re], TimeRange::new(15, 30)).unwrap().len(), 1);
        assert_eq!(
            s.label_values("job", &[], TimeRange::ALL).unwrap(),
            ["a", "b"]
        );
    }
}
