//! What a metric family is: its type, help text and unit.

use std::fmt;
use std::str::FromStr;

/// The type of a metric family, as Prometheus text and OpenMetrics name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// Prometheus text calls it `untyped`, OpenMetrics `unknown`.
    #[default]
    Unknown,
}

impl MetricType {
    /// The name the Prometheus metadata API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "untyped" | "unknown" => MetricType::Unknown,
            other => return Err(format!("unknown metric type {other:?}")),
        })
    }
}

/// Metadata of one metric family, keyed by its name (without `_bucket`, `_sum`, … suffixes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MetricMetadata {
    pub metric: String,
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

/// The metadata of `metric` (or of every metric), sorted by metric name: what
/// [`crate::Querier::metadata`] answers, from a store's table of it.
pub fn metadata_of<'a>(
    all: impl Iterator<Item = &'a MetricMetadata>,
    metric: Option<&str>,
) -> Vec<MetricMetadata> {
    let mut out: Vec<MetricMetadata> = all
        .filter(|m| metric.is_none_or(|name| m.metric == name))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.metric.cmp(&b.metric));
    out
}
