//! The traits between the pipeline, the stores and the query engine.

use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metadata::MetricMetadata;
use crate::sample::{Point, Sample, Series};
use crate::time::TimeRange;
use std::ops::ControlFlow;
use std::time::Duration;

/// Samples (and the metadata of their families) to store together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub samples: Vec<Sample>,
    pub metadata: Vec<MetricMetadata>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.metadata.is_empty()
    }

    /// The number of distinct series among the samples.
    pub fn series_count(&self) -> usize {
        let mut hashes: Vec<u64> = self.samples.iter().map(|s| s.labels.hash64()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        hashes.len()
    }

    pub fn extend(&mut self, other: WriteBatch) {
        self.samples.extend(other.samples);
        self.metadata.extend(other.metadata);
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    pub samples: u64,
    /// Series the store had not seen before.
    pub new_series: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A limit (head series, memory) is reached; the caller should retry later.
    #[error("{what}; retry after {retry_after:?}")]
    Backpressure { what: String, retry_after: Duration },
    #[error("samples are older than the retention period: {0}")]
    OutOfRetention(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Other(String),
}

/// Where samples go. `append` returns only once the batch is durable: a crash after it
/// returns loses nothing of the batch.
pub trait Appender: Send + Sync {
    fn append(&self, batch: &WriteBatch) -> Result<AppendStats, StorageError>;
}

/// What [`Querier::select_each`] lends a selection to, series by series.
pub trait SeriesVisitor {
    /// Called once, before any series, with the label sets of the series that may
    /// follow, in their order: a listed series without points in the range is left
    /// out. Knowing them all first, a visitor can size or group its work ahead of the
    /// points. Breaking ends the selection.
    fn expect(&mut self, labels: &mut dyn ExactSizeIterator<Item = &Labels>) -> ControlFlow<()> {
        let _ = labels;
        ControlFlow::Continue(())
    }

    /// Series `index` of those listed to [`SeriesVisitor::expect`], with its points.
    fn series(&mut self, index: usize, labels: &Labels, points: &mut Vec<Point>)
        -> ControlFlow<()>;
}

/// A visitor that only looks at each series as it comes.
pub fn each_series<F>(f: F) -> impl SeriesVisitor
where
    F: FnMut(&Labels, &mut Vec<Point>) -> ControlFlow<()>,
{
    struct EachSeries<F>(F);
    impl<F: FnMut(&Labels, &mut Vec<Point>) -> ControlFlow<()>> SeriesVisitor for EachSeries<F> {
        fn series(
            &mut self,
            _: usize,
            labels: &Labels,
            points: &mut Vec<Point>,
        ) -> ControlFlow<()> {
            (self.0)(labels, points)
        }
    }
    EachSeries(f)
}

/// How stored data is read. Every method takes one set of matchers (all must hold);
/// callers union the answers for several sets. An empty matcher list selects every series.
pub trait Querier: Send + Sync {
    /// Series matching `matchers` with their points within `range`, sorted by labels.
    /// Series without points in the range are left out.
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError>;

    /// Lends `visitor` each series [`Querier::select`] would return, in the same order,
    /// until it breaks, after telling it which series may come (see [`SeriesVisitor`]).
    /// The visitor may take a points vector to keep it; otherwise the store may reuse it
    /// for the next series, so a selection of many short series need not cost an
    /// allocation per series. The default reads them all with `select`.
    fn select_each(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
        visitor: &mut dyn SeriesVisitor,
    ) -> Result<(), StorageError> {
        let mut all = self.select(matchers, range)?;
        if visitor
            .expect(&mut all.iter().map(|s| &s.labels))
            .is_break()
        {
            return Ok(());
        }
        for (i, s) in all.iter_mut().enumerate() {
            if visitor.series(i, &s.labels, &mut s.points).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Label sets of series matching `matchers` with data within `range`, sorted.
    fn series(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Labels>, StorageError>;

    /// Label names of matching series, sorted.
    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError>;

    /// Values of label `name` among matching series, sorted.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>, StorageError>;

    /// Metadata of metric families, optionally of one metric.
    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError>;
}

/// A store that can be both written and read.
pub trait Storage: Appender + Querier {}

impl<T: Appender + Querier> Storage for T {}
