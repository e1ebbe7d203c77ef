//! The spec's `event_metrics` stream: each event becomes counter, histogram and gauge
//! samples.
//!
//! A body is one `{"event_metrics": {…}}` object, a JSON array of them, or NDJSON (one
//! per line). Each event maps, at its `timestamp` (RFC 3339; the time of receipt when
//! absent), to:
//! - `events_total{…}`: a counter, cumulative across requests, +1 per event;
//! - `event_duration_seconds_bucket{le,…}`, `_sum`, `_count` from `duration_ms` (in
//!   seconds, Prometheus's default buckets), cumulative across requests;
//! - `event_<field>{…}`: a gauge per numeric field of `metrics` (booleans as 0/1).
//!
//! Every series of the event carries the same labels: `event_type`, `source_service`,
//! `success` (`"true"`/`"false"`, when given), the event's `labels`, and each string
//! field of `metrics` (such as `model_version`): strings are dimensions, not values.
//! `context` ids (`request_id`, `session_id`, `correlation_id`, …) never become labels:
//! they are unique per event and would create a series per event. A field or label
//! name that is not a valid Prometheus label name, or that repeats another label, is
//! an error for that event (no silent renaming).
//!
//! A repeated `event_id` is counted once: the mapper remembers the last
//! `max_remembered_ids` ids (as 64-bit hashes, oldest forgotten first), and the repeat
//! is reported in [`EventsDecoded::duplicates`], not as a rejection. Only valid events
//! are remembered, so a corrected resend of a refused event is accepted. Events without
//! an `event_id` cannot be deduplicated and are always counted.

use crate::histogram::{with_name, Histogram, HistogramSeries};
use crate::json::{item_error, json_type, parse_rfc3339_ms};
use crate::value::DEFAULT_BUCKETS;
use crate::{Decoded, JsonError, Rejection};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use strata_core::{Labels, MetricMetadata, MetricType, Sample};

/// What an events request decoded to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsDecoded {
    pub decoded: Decoded,
    /// Events mapped to samples (duplicates and rejected events not included).
    pub events: usize,
    /// Events skipped because their `event_id` was already seen.
    pub duplicates: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    event_metrics: Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    event_id: Option<String>,
    timestamp: Option<String>,
    event_type: String,
    source_service: String,
    duration_ms: Option<f64>,
    success: Option<bool>,
    #[serde(default)]
    metrics: Map<String, Value>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Read only to be refused as labels: ids unique per event.
    #[serde(default, rename = "context")]
    _context: Map<String, Value>,
}

/// The cumulative state of one label set.
struct SeriesState {
    events_total: Labels,
    events: f64,
    duration: Option<(HistogramSeries, Histogram)>,
}

/// Maps events to samples, keeping counters cumulative and event ids deduplicated
/// across requests.
pub struct EventMapper {
    max_ids: usize,
    seen: FxHashSet<u64>,
    order: VecDeque<u64>,
    series: FxHashMap<Labels, SeriesState>,
}

impl EventMapper {
    /// Remembers the last `max_remembered_ids` event ids (0: deduplicates nothing).
    pub fn new(max_remembered_ids: usize) -> Self {
        EventMapper {
            max_ids: max_remembered_ids,
            seen: FxHashSet::default(),
            order: VecDeque::new(),
            series: FxHashMap::default(),
        }
    }

    /// Decodes a body of events. Syntax errors and a body that is a single object
    /// without `event_metrics` are a [`JsonError`]; an invalid event is a [`Rejection`]
    /// with its 0-based index (0 for a single object).
    pub fn map(&mut self, body: &[u8], now_ms: i64) -> Result<EventsDecoded, JsonError> {
        let items = split_items(body)?;
        let single = items.len() == 1 && !body.trim_ascii_start().starts_with(b"[");
        self.map_items(items, single, now_ms)
    }

    /// [`Self::map`] for a body already read as JSON (a `/batch` item): an event
    /// object or an array of them.
    pub(crate) fn map_value(
        &mut self,
        body: Value,
        now_ms: i64,
    ) -> Result<EventsDecoded, JsonError> {
        match body {
            Value::Array(items) => self.map_items(items, false, now_ms),
            single => self.map_items(vec![single], true, now_ms),
        }
    }

    fn map_items(
        &mut self,
        items: Vec<Value>,
        single: bool,
        now_ms: i64,
    ) -> Result<EventsDecoded, JsonError> {
        let mut out = EventsDecoded::default();
        for (i, item) in items.into_iter().enumerate() {
            let no_envelope = item.get("event_metrics").is_none();
            let event = match envelope(item) {
                Ok(e) => e,
                Err(reason) if single && no_envelope => return Err(JsonError::Envelope(reason)),
                Err(reason) => {
                    out.decoded.rejected.push(Rejection { item: i, reason });
                    continue;
                }
            };
            let id = event
                .event_id
                .as_deref()
                .map(|id| xxhash_rust::xxh3::xxh3_64(id.as_bytes()));
            if id.is_some_and(|h| self.seen.contains(&h)) {
                out.duplicates += 1;
                continue;
            }
            match self.map_event(&event, now_ms, &mut out.decoded.batch.samples) {
                Ok(()) => {
                    out.events += 1;
                    if let Some(h) = id {
                        self.remember(h);
                    }
                }
                Err(reason) => out.decoded.rejected.push(Rejection { item: i, reason }),
            }
        }
        out.decoded.batch.metadata = metadata(&out.decoded.batch.samples);
        Ok(out)
    }

    fn remember(&mut self, id: u64) {
        if self.max_ids == 0 {
            return;
        }
        if self.order.len() >= self.max_ids {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(id);
        self.order.push_back(id);
    }

    /// Appends the event's samples; on error appends nothing and changes no state.
    fn map_event(&mut self, e: &Event, now_ms: i64, out: &mut Vec<Sample>) -> Result<(), String> {
        let t = match &e.timestamp {
            Some(ts) => parse_rfc3339_ms(ts)?,
            None => now_ms,
        };
        if e.duration_ms.is_some_and(|d| d < 0.0) {
            return Err("duration_ms must not be negative".into());
        }
        let (base, gauges) = event_labels(e)?;
        let gauge_samples = gauges
            .iter()
            .map(|(field, v)| {
                let labels = with_name(&base, &format!("event_{field}"), None)
                    .map_err(|err| format!("metrics field {field:?}: {err}"))?;
                Ok(Sample { labels, t, v: *v })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let known = self.series.get(&base);
        let events_total = match known {
            Some(_) => None,
            None => Some(with_name(&base, "events_total", None).map_err(|err| err.to_string())?),
        };
        let new_duration = match (e.duration_ms, known.map(|s| s.duration.is_some())) {
            (Some(_), None | Some(false)) => Some(
                HistogramSeries::new("event_duration_seconds", &base, &DEFAULT_BUCKETS)
                    .map_err(|err| err.to_string())?,
            ),
            _ => None,
        };
        // Nothing below can fail: the event's state changes only once it is valid.
        let state = self.series.entry(base).or_insert_with(|| SeriesState {
            events_total: events_total.unwrap_or_default(),
            events: 0.0,
            duration: None,
        });
        state.events += 1.0;
        out.push(Sample {
            labels: state.events_total.clone(),
            t,
            v: state.events,
        });
        if let Some(series) = new_duration {
            state.duration = Some((series, Histogram::new(&DEFAULT_BUCKETS)));
        }
        if let (Some(ms), Some((series, hist))) = (e.duration_ms, &mut state.duration) {
            hist.observe(&DEFAULT_BUCKETS, ms / 1000.0, 1.0);
            hist.samples(series, t, out);
        }
        out.extend(gauge_samples);
        Ok(())
    }
}

/// The numeric `metrics` fields of an event: (field, value).
type Gauges<'a> = Vec<(&'a str, f64)>;

/// The labels every series of the event carries, and its numeric `metrics` fields.
fn event_labels(e: &Event) -> Result<(Labels, Gauges<'_>), String> {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("event_type", &e.event_type),
        ("source_service", &e.source_service),
    ];
    if let Some(ok) = e.success {
        pairs.push(("success", if ok { "true" } else { "false" }));
    }
    pairs.extend(e.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut gauges = Vec::new();
    for (field, v) in &e.metrics {
        match v {
            Value::String(s) => pairs.push((field, s)),
            Value::Bool(b) => gauges.push((field.as_str(), f64::from(u8::from(*b)))),
            Value::Number(n) => gauges.push((field.as_str(), n.as_f64().unwrap_or(f64::NAN))),
            other => {
                return Err(format!(
                    "metrics field {field:?} must be a number, string or boolean, not {}",
                    json_type(other)
                ))
            }
        }
    }
    if e.labels.contains_key("le") || e.metrics.contains_key("le") {
        return Err("label \"le\" is reserved for the duration histogram's buckets".into());
    }
    if let Some(bad) = gauges
        .iter()
        .find(|(f, _)| !strata_core::is_valid_label_name(f))
    {
        return Err(format!(
            "metrics field {:?} is not a valid metric name suffix",
            bad.0
        ));
    }
    let base = Labels::new(pairs).map_err(|err| format!("event labels: {err}"))?;
    Ok((base, gauges))
}

fn envelope(item: Value) -> Result<Event, String> {
    if !item.is_object() {
        return Err(format!(
            "an event must be an object, not {}",
            json_type(&item)
        ));
    }
    serde_json::from_value::<Envelope>(item)
        .map(|e| e.event_metrics)
        .map_err(item_error)
}

/// The body's items: the elements of an array, or each value of an NDJSON stream (a
/// single object is a stream of one).
fn split_items(body: &[u8]) -> Result<Vec<Value>, JsonError> {
    if body.trim_ascii_start().starts_with(b"[") {
        return Ok(serde_json::from_slice(body)?);
    }
    let items = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()?;
    if items.is_empty() {
        return Err(JsonError::Syntax {
            line: 1,
            column: 0,
            reason: "empty body: expected an event object, an array or NDJSON".into(),
        });
    }
    Ok(items)
}

/// Metadata of the families among the samples.
fn metadata(samples: &[Sample]) -> Vec<MetricMetadata> {
    let mut families: Vec<MetricMetadata> = Vec::new();
    for s in samples {
        let name = s.labels.metric_name().unwrap_or_default();
        let (family, kind, help) = if name == "events_total" {
            (
                name,
                MetricType::Counter,
                "Events received, by type, source and outcome.",
            )
        } else if let Some(f) = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|f| *f == "event_duration_seconds")
        {
            (
                f,
                MetricType::Histogram,
                "Duration of events, from their duration_ms.",
            )
        } else {
            (
                name,
                MetricType::Gauge,
                "A numeric field of events' metrics.",
            )
        };
        if !families.iter().any(|m| m.metric == family) {
            families.push(MetricMetadata {
                metric: family.to_owned(),
                kind,
                help: help.to_owned(),
                unit: String::new(),
            });
        }
    }
    families
}

#[cfg(test)]
mod tests;
