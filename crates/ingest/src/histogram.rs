//! Cumulative Prometheus-style histograms built from observations (StatsD timers,
//! event durations): `<name>_bucket{le=…}` per bound plus `+Inf`, `<name>_sum`, `<name>_count`.

use crate::value::format_float;
use strata_core::{LabelError, Labels, Sample, METRIC_NAME};

/// The label sets of one histogram's series, built once when the series is first seen.
#[derive(Debug, Clone)]
pub(crate) struct HistogramSeries {
    /// One per bound, then `+Inf`.
    buckets: Vec<Labels>,
    sum: Labels,
    count: Labels,
}

impl HistogramSeries {
    /// `base` holds the labels other than the name; `bounds` are ascending and finite.
    pub fn new(name: &str, base: &Labels, bounds: &[f64]) -> Result<Self, LabelError> {
        let bucket_name = format!("{name}_bucket");
        let buckets = bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(|le| with_name(base, &bucket_name, Some(("le", &format_float(le)))))
            .collect::<Result<_, _>>()?;
        Ok(HistogramSeries {
            buckets,
            sum: with_name(base, &format!("{name}_sum"), None)?,
            count: with_name(base, &format!("{name}_count"), None)?,
        })
    }
}

/// `base` with a metric name and optionally one more label.
pub(crate) fn with_name(
    base: &Labels,
    name: &str,
    extra: Option<(&str, &str)>,
) -> Result<Labels, LabelError> {
    let pairs = base
        .iter()
        .map(|l| (l.name, l.value))
        .chain(extra)
        .chain([(METRIC_NAME, name)]);
    Labels::new(pairs)
}

/// Observation counts per bucket (not yet cumulative; the last is `+Inf`), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    counts: Vec<f64>,
    sum: f64,
    count: f64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        Histogram {
            counts: vec![0.0; bounds.len() + 1],
            sum: 0.0,
            count: 0.0,
        }
    }

    /// Records `weight` observations of `v`. As in Prometheus's clients, a value equal
    /// to a bound falls in that bound's bucket.
    pub fn observe(&mut self, bounds: &[f64], v: f64, weight: f64) {
        let i = bounds.partition_point(|b| *b < v);
        self.counts[i] += weight;
        self.sum += v * weight;
        self.count += weight;
    }

    /// Appends the cumulative bucket, sum and count samples at `t`.
    pub fn samples(&self, series: &HistogramSeries, t: i64, out: &mut Vec<Sample>) {
        let mut cumulative = 0.0;
        for (count, labels) in self.counts.iter().zip(&series.buckets) {
            cumulative += count;
            out.push(Sample {
                labels: labels.clone(),
                t,
                v: cumulative,
            });
        }
        out.push(Sample {
            labels: series.sum.clone(),
            t,
            v: self.sum,
        });
        out.push(Sample {
            labels: series.count.clone(),
            t,
            v: self.count,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets() {
        let bounds = [0.1, 1.0];
        let base = Labels::new([("job", "x")]).unwrap();
        let series = HistogramSeries::new("d", &base, &bounds).unwrap();
        let mut h = Histogram::new(&bounds);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.observe(&bounds, v, 1.0);
        }
        h.observe(&bounds, 2.0, 2.0);
        let mut out = Vec::new();
        h.samples(&series, 5, &mut out);
        let got: Vec<String> = out
            .iter()
            .map(|s| format!("{} {}", s.labels, s.v))
            .collect();
        assert_eq!(
            got,
            [
                r#"d_bucket{job="x", le="0.1"} 2"#,
                r#"d_bucket{job="x", le="1.0"} 3"#,
                r#"d_bucket{job="x", le="+Inf"} 6"#,
                r#"d_sum{job="x"} 7.65"#,
                r#"d_count{job="x"} 6"#,
            ]
        );
    }
}
