//! The spec's `custom_metrics` JSON envelope.
//!
//! ```json
//! {"custom_metrics": {
//!    "timestamp": "2025-07-26T10:30:00Z", "source": "prediction-service",
//!    "metrics": [
//!      {"name": "predictions_generated_total", "type": "counter", "value": 1247, "labels": {"model": "m"}},
//!      {"name": "model_inference_duration_ms", "type": "histogram",
//!       "buckets": {"5": 234, "10": 567, "+Inf": 1247}, "sum": 18734.5, "count": 1247}]}}
//! ```
//!
//! Mapping and rules:
//! - `timestamp` (RFC 3339, any offset) applies to every metric; a metric may carry its
//!   own `timestamp` to override it; without either, the time of receipt.
//! - `source` becomes the label `source` on every metric, unless the metric's own
//!   `labels` set `source` (the more specific value wins).
//! - `counter` and `gauge` need `value`; a counter's value must not be negative.
//! - `histogram` needs `buckets` (upper bound → cumulative count, bounds as strings,
//!   `+Inf` allowed) and `sum`; it becomes `<name>_bucket{le=…}`, `<name>_sum` and
//!   `<name>_count`, bounds formatted as Prometheus does (`"5"` → `le="5.0"`). Counts
//!   must not decrease with the bound. A missing `+Inf` bucket is added with `count`; a
//!   missing `count` is the `+Inf` bucket; when both are given they must agree.
//! - Optional `help` and `unit` go to the family's metadata. Unknown fields are refused,
//!   so a misspelt `lables` is an error rather than silently unlabelled data.
//! - An envelope that does not parse is a [`JsonError`]; an invalid metric is a
//!   [`Rejection`] with its index in `metrics`, and the other metrics are kept.

use crate::json::{item_error, json_type, parse_rfc3339_ms};
use crate::value::{format_float, parse_float};
use crate::{Decoded, JsonError, Rejection};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use strata_core::{Labels, MetricMetadata, MetricType, Sample, METRIC_NAME};

#[derive(Deserialize)]
struct Body {
    custom_metrics: Envelope,
}

#[derive(Deserialize)]
struct Envelope {
    timestamp: Option<String>,
    source: Option<String>,
    metrics: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metric {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Option<f64>,
    buckets: Option<BTreeMap<String, f64>>,
    sum: Option<f64>,
    count: Option<f64>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    timestamp: Option<String>,
    help: Option<String>,
    unit: Option<String>,
}

/// Decodes a `custom_metrics` body; metrics without a timestamp get `now_ms`.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Decoded, JsonError> {
    decode(serde_json::from_slice(body)?, now_ms)
}

/// [`parse`] for a body already read as JSON (a `/batch` item).
pub(crate) fn parse_value(body: Value, now_ms: i64) -> Result<Decoded, JsonError> {
    decode(serde_json::from_value(body)?, now_ms)
}

fn decode(body: Body, now_ms: i64) -> Result<Decoded, JsonError> {
    let env = body.custom_metrics;
    let t = match &env.timestamp {
        Some(ts) => parse_rfc3339_ms(ts).map_err(JsonError::Envelope)?,
        None => now_ms,
    };
    let mut out = Decoded::default();
    for (i, item) in env.metrics.into_iter().enumerate() {
        match decode_metric(item, env.source.as_deref(), t) {
            Ok((samples, md)) => {
                out.batch.samples.extend(samples);
                if !out.batch.metadata.iter().any(|m| m.metric == md.metric) {
                    out.batch.metadata.push(md);
                }
            }
            Err(reason) => out.rejected.push(Rejection { item: i, reason }),
        }
    }
    Ok(out)
}

fn decode_metric(
    item: Value,
    source: Option<&str>,
    envelope_t: i64,
) -> Result<(Vec<Sample>, MetricMetadata), String> {
    if !item.is_object() {
        return Err(format!(
            "a metric must be an object, not {}",
            json_type(&item)
        ));
    }
    let m: Metric = serde_json::from_value(item).map_err(item_error)?;
    let name = m.name.as_str();
    let t = match &m.timestamp {
        Some(ts) => parse_rfc3339_ms(ts)?,
        None => envelope_t,
    };
    let kind = match m.kind.as_str() {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        other => {
            return Err(format!(
                "metric {name:?}: unknown type {other:?} (use counter, gauge or histogram)"
            ))
        }
    };
    let series = |suffix: &str, extra: Option<(&str, &str)>| -> Result<Labels, String> {
        let full = format!("{name}{suffix}");
        let source = source.filter(|_| !m.labels.contains_key("source"));
        let pairs = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(source.map(|s| ("source", s)))
            .chain(extra)
            .chain([(METRIC_NAME, full.as_str())]);
        Labels::new(pairs).map_err(|e| format!("metric {name:?}: {e}"))
    };
    let samples = if kind == MetricType::Histogram {
        if m.value.is_some() {
            return Err(format!(
                "metric {name:?}: a histogram takes buckets, sum and count, not value"
            ));
        }
        let h = histogram(&m)?;
        let mut samples = Vec::with_capacity(h.buckets.len() + 2);
        for (le, count) in &h.buckets {
            let le = format_float(*le);
            let labels = series("_bucket", Some(("le", &le)))?;
            samples.push(Sample {
                labels,
                t,
                v: *count,
            });
        }
        samples.push(Sample {
            labels: series("_sum", None)?,
            t,
            v: h.sum,
        });
        samples.push(Sample {
            labels: series("_count", None)?,
            t,
            v: h.count,
        });
        samples
    } else {
        if m.buckets.is_some() || m.sum.is_some() || m.count.is_some() {
            return Err(format!(
                "metric {name:?}: buckets, sum and count are for histograms only"
            ));
        }
        let v = m
            .value
            .ok_or_else(|| format!("metric {name:?}: missing value"))?;
        if kind == MetricType::Counter && v < 0.0 {
            return Err(format!(
                "metric {name:?}: a counter cannot be negative ({v})"
            ));
        }
        vec![Sample {
            labels: series("", None)?,
            t,
            v,
        }]
    };
    let md = MetricMetadata {
        metric: m.name.clone(),
        kind,
        help: m.help.unwrap_or_default(),
        unit: m.unit.unwrap_or_default(),
    };
    Ok((samples, md))
}

struct Histogram {
    /// (upper bound, cumulative count), ascending, ending with +Inf.
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

fn histogram(m: &Metric) -> Result<Histogram, String> {
    let name = &m.name;
    let raw = m
        .buckets
        .as_ref()
        .ok_or_else(|| format!("histogram {name:?}: missing buckets"))?;
    let sum = m
        .sum
        .ok_or_else(|| format!("histogram {name:?}: missing sum"))?;
    if m.labels.contains_key("le") {
        return Err(format!(
            "histogram {name:?}: label \"le\" is reserved for bucket bounds"
        ));
    }
    let mut buckets = Vec::with_capacity(raw.len() + 1);
    for (bound, &count) in raw {
        let le = parse_float(bound.trim())
            .filter(|f| !f.is_nan())
            .ok_or_else(|| format!("histogram {name:?}: bucket bound {bound:?} is not a number"))?;
        if count < 0.0 {
            return Err(format!(
                "histogram {name:?}: bucket {bound:?} has a negative count"
            ));
        }
        buckets.push((le, count));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(w) = buckets.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "histogram {name:?}: bucket bound {} given twice",
            format_float(w[0].0)
        ));
    }
    if let Some(w) = buckets.windows(2).find(|w| w[1].1 < w[0].1) {
        return Err(format!(
            "histogram {name:?}: bucket counts must be cumulative, but le={} has {} after le={} with {}",
            format_float(w[1].0),
            w[1].1,
            format_float(w[0].0),
            w[0].1
        ));
    }
    let inf = buckets.last().filter(|b| b.0 == f64::INFINITY).map(|b| b.1);
    let count = match (inf, m.count) {
        (Some(i), Some(c)) if i != c => {
            return Err(format!(
                "histogram {name:?}: count {c} differs from the +Inf bucket {i}"
            ))
        }
        (Some(i), _) => i,
        (None, Some(c)) => {
            if buckets.last().is_some_and(|b| b.1 > c) {
                return Err(format!(
                    "histogram {name:?}: count {c} is below a bucket's count"
                ));
            }
            buckets.push((f64::INFINITY, c));
            c
        }
        (None, None) => return Err(format!("histogram {name:?}: needs count or a +Inf bucket")),
    };
    Ok(Histogram {
        buckets,
        sum,
        count,
    })
}

#[cfg(test)]
mod tests;
