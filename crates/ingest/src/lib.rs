//! Strata's push decoders: every wire format a service sends turned into one model.
//!
//! Each module takes the bytes of one request (already decompressed by [`encoding`]) and
//! returns a [`strata_core::WriteBatch`] of samples and metric metadata: Prometheus text
//! and OpenMetrics ([`prometheus`]), the spec's `custom_metrics` JSON ([`custom`]), its
//! `event_metrics` stream ([`events`]), StatsD/DogStatsD lines ([`statsd`]) and the mixed
//! `POST /batch` envelope ([`batch`]). Bad input is never a panic: a body that cannot be
//! read is an error naming its line and column, and an item that can be read but is
//! invalid is a [`Rejection`] naming its index (or line) and the reason.
//!
//! The crate deliberately does no I/O, no async, no threads and reads no clock: callers
//! pass the time of receipt (`now_ms`), and the stateful parts ([`events::EventMapper`],
//! [`statsd::Aggregator`], the optional [`prometheus::Decoder`] cache) are plain values
//! the caller owns and locks as it sees fit. It stores nothing, enforces no rate or
//! cardinality limits (the pipeline's job), and does not yet read Prometheus remote
//! write or OTLP.

pub mod batch;
pub mod custom;
pub mod encoding;
pub mod events;
#[cfg(test)]
mod fixtures;
mod histogram;
mod json;
pub mod prometheus;
pub mod statsd;
mod value;

pub use value::format_float;

use strata_core::WriteBatch;

/// One refused item of a request: `item` is the 0-based index of a JSON item, or the
/// 1-based line number of a text line; `reason` says why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejection {
    pub item: usize,
    pub reason: String,
}

/// What a request decoded to: the valid samples, and each refused item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub batch: WriteBatch,
    pub rejected: Vec<Rejection>,
}

/// A JSON body that does not parse or does not have the expected envelope (HTTP 400,
/// nothing stored).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not JSON.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    /// The JSON parses but is not the expected envelope (a missing or mistyped field).
    #[error("invalid request envelope: {0}")]
    Envelope(String),
    /// More items than the caller allows in one request.
    #[error("too many items: {count}, the limit is {limit}")]
    TooManyItems { count: usize, limit: usize },
}
