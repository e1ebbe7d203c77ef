//! The data sets: every series' labels and every point's value, generated up front and
//! deterministically from a seed, so each server compared receives byte-identical data.
//!
//! Points of all series share one time grid (`start_ms + i * interval_ms`), as they do
//! when a fleet is scraped at a fixed interval.

pub mod node;
mod walk;

pub use node::{generate as node, NodeParams};
pub use walk::{generate as walk, WalkParams};

use std::ops::Range;

/// One series: its metric name and its other labels, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDef {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesDef {
    /// All labels including `__name__`, sorted by name (what remote write expects).
    pub fn all_labels(&self) -> Vec<(&str, &str)> {
        let mut all: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.push(("__name__", &self.name));
        all.sort_unstable();
        all
    }
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub series: Vec<SeriesDef>,
    /// Row-major: the points of series `s` are `values[s * points .. (s + 1) * points]`.
    pub values: Vec<f64>,
    pub points: usize,
    pub start_ms: i64,
    pub interval_ms: i64,
}

impl Dataset {
    pub fn samples(&self) -> usize {
        self.series.len() * self.points
    }

    pub fn timestamp(&self, point: usize) -> i64 {
        self.start_ms + point as i64 * self.interval_ms
    }

    pub fn end_ms(&self) -> i64 {
        self.timestamp(self.points.saturating_sub(1))
    }

    pub fn value(&self, series: usize, point: usize) -> f64 {
        self.values[series * self.points + point]
    }

    /// Splits the series into `n` contiguous shards (one per client connection), so that
    /// each series is sent by one connection only, in time order.
    pub fn shards(&self, n: usize) -> Vec<Range<usize>> {
        let n = n.clamp(1, self.series.len().max(1));
        let len = self.series.len();
        (0..n).map(|i| i * len / n..(i + 1) * len / n).collect()
    }
}

/// Accumulates series of one data set while the generators add them.
pub(crate) struct Builder {
    series: Vec<SeriesDef>,
    values: Vec<f64>,
    points: usize,
}

impl Builder {
    pub(crate) fn new(points: usize) -> Self {
        Builder {
            series: Vec::new(),
            values: Vec::new(),
            points,
        }
    }

    /// Adds a series; `common` labels (host identity) come before the series' own.
    pub(crate) fn add(
        &mut self,
        name: &str,
        common: &[(&str, &str)],
        own: &[(&str, &str)],
        values: Vec<f64>,
    ) {
        assert_eq!(
            values.len(),
            self.points,
            "generator produced a wrong point count"
        );
        let mut labels: Vec<(String, String)> = common
            .iter()
            .chain(own)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort_unstable();
        self.series.push(SeriesDef {
            name: name.to_string(),
            labels,
        });
        self.values.extend(values);
    }

    pub(crate) fn finish(self, start_ms: i64, interval_ms: i64) -> Dataset {
        Dataset {
            series: self.series,
            values: self.values,
            points: self.points,
            start_ms,
            interval_ms,
        }
    }
}

/// `x` rounded to `decimals` decimal places, as exporters print most values.
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_series_once() {
        let ds = walk(&WalkParams {
            series: 10,
            points: 3,
            start_ms: 0,
            interval_ms: 1000,
            seed: 1,
        });
        for n in 1..=12 {
            let shards = ds.shards(n);
            let covered: Vec<usize> = shards.iter().flat_map(|r| r.clone()).collect();
            assert_eq!(covered, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn rounding_keeps_the_requested_digits() {
        assert_eq!(round_to(1.23456, 3), 1.235);
        assert_eq!(round_to(-2.5, 0), -3.0);
    }
}
