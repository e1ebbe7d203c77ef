//! `POST /batch`: many payloads of mixed formats in one request.
//!
//! ```json
//! {"items": [
//!   {"format": "prometheus", "data": "up{job=\"a\"} 1\n"},
//!   {"format": "openmetrics", "data": "up 1\n# EOF\n"},
//!   {"format": "custom", "data": {"custom_metrics": {"metrics": [...]}}},
//!   {"format": "events", "data": {"event_metrics": {...}}},
//!   {"format": "statsd", "data": "requests:1|c\nlatency:12|ms"}
//! ]}
//! ```
//!
//! - `format` is `prometheus` (text, or OpenMetrics when the data ends with `# EOF`),
//!   `openmetrics`, `custom`, `events` (or `event`) or `statsd`.
//! - `data` is the payload: a string for the text formats; for `custom` and `events`
//!   the JSON itself (an events array is several events), or a string holding it (so
//!   NDJSON events fit too).
//! - At most `max_items` items (the caller's limit, 10 000 by default in the server);
//!   more is a [`JsonError::TooManyItems`] and nothing is stored.
//! - Items are independent: each gets an [`ItemOutcome`] with the samples it gave, an
//!   `error` when the item as a whole was refused (a Prometheus syntax error, an
//!   unknown format, a custom envelope that does not parse), and its refused sub-items
//!   (JSON items by index, StatsD lines by line number) in `rejected`.
//! - `statsd` items are applied directly, without interval aggregation and without
//!   state across requests: each item is aggregated alone and flushed at `now_ms`, so a
//!   counter's sample is that item's own total (increments scaled by `1/rate`), a gauge
//!   its final value, a timer a histogram of that item's observations. Cumulative
//!   StatsD counting across packets is what the UDP/TCP listener is for.
//! - `events` items share the caller's [`EventMapper`], so counters stay cumulative and
//!   event ids deduplicated across requests and endpoints.

use crate::events::EventMapper;
use crate::json::json_type;
use crate::statsd::{Aggregator, StatsdConfig};
use crate::{custom, prometheus, Decoded, JsonError, Rejection};
use serde::Deserialize;
use serde_json::Value;
use strata_core::WriteBatch;

/// What became of one item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ItemOutcome {
    pub index: usize,
    pub format: String,
    /// Samples the item contributed.
    pub samples: usize,
    /// Why the whole item was refused, if it was.
    pub error: Option<String>,
    /// Refused parts of the item: JSON items by index, StatsD lines by line number.
    pub rejected: Vec<Rejection>,
}

/// The samples of all items, and each item's outcome in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchDecoded {
    pub batch: WriteBatch,
    pub items: Vec<ItemOutcome>,
}

#[derive(Deserialize)]
struct Envelope {
    items: Vec<Value>,
}

/// Decodes a batch. Samples without a time of their own get `now_ms`.
pub fn parse(
    body: &[u8],
    now_ms: i64,
    max_items: usize,
    events: &mut EventMapper,
) -> Result<BatchDecoded, JsonError> {
    let env: Envelope = serde_json::from_slice(body)?;
    if env.items.len() > max_items {
        return Err(JsonError::TooManyItems {
            count: env.items.len(),
            limit: max_items,
        });
    }
    let mut out = BatchDecoded::default();
    for (index, item) in env.items.into_iter().enumerate() {
        let format = item
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut outcome = ItemOutcome {
            index,
            format,
            samples: 0,
            error: None,
            rejected: Vec::new(),
        };
        match decode_item(item, now_ms, events) {
            Ok(decoded) => {
                outcome.samples = decoded.batch.samples.len();
                outcome.rejected = decoded.rejected;
                out.batch.extend(decoded.batch);
            }
            Err(reason) => outcome.error = Some(reason),
        }
        out.items.push(outcome);
    }
    Ok(out)
}

fn decode_item(item: Value, now_ms: i64, events: &mut EventMapper) -> Result<Decoded, String> {
    let Value::Object(mut fields) = item else {
        return Err(format!(
            "an item must be an object, not {}",
            json_type(&item)
        ));
    };
    let format = match fields.get("format") {
        Some(Value::String(f)) => f.clone(),
        Some(other) => {
            return Err(format!(
                "\"format\" must be a string, not {}",
                json_type(other)
            ))
        }
        None => return Err("missing \"format\"".into()),
    };
    let data = fields.remove("data").ok_or("missing \"data\"")?;
    let text = |data: &Value| match data {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "{format} data must be a string, not {}",
            json_type(other)
        )),
    };
    match format.as_str() {
        "prometheus" | "openmetrics" => {
            let body = text(&data)?;
            let kind = match format.as_str() {
                "openmetrics" => prometheus::Format::OpenMetrics,
                _ => prometheus::detect_format(None, body.as_bytes()),
            };
            let batch =
                prometheus::parse(body.as_bytes(), kind, now_ms).map_err(|e| e.to_string())?;
            Ok(Decoded {
                batch,
                rejected: Vec::new(),
            })
        }
        "custom" => match data {
            Value::String(s) => custom::parse(s.as_bytes(), now_ms),
            json => custom::parse_value(json, now_ms),
        }
        .map_err(|e| e.to_string()),
        "events" | "event" => match data {
            Value::String(s) => events.map(s.as_bytes(), now_ms),
            json => events.map_value(json, now_ms),
        }
        .map(|d| d.decoded)
        .map_err(|e| e.to_string()),
        "statsd" => {
            let mut agg = Aggregator::new(StatsdConfig::default());
            let rejected = agg.ingest(text(&data)?.as_bytes(), now_ms);
            Ok(Decoded {
                batch: agg.flush(now_ms),
                rejected,
            })
        }
        other => Err(format!(
            "unknown format {other:?} (use prometheus, openmetrics, custom, events or statsd)"
        )),
    }
}

#[cfg(test)]
mod tests;
