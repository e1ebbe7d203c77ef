//! The one answer shape of every ingest endpoint (the spec's "ingestion confirmation
//! with stats"), and how refusals map to HTTP statuses.
//!
//! ```json
//! {"status":"success","samples_accepted":3,"series_accepted":3,"new_series":3,
//!  "metadata_accepted":1,"rejected":0,"errors":[]}
//! ```
//! `status` is `success` (everything stored), `partial` (some items refused, the rest
//! stored) or `error` (nothing stored; then `errorType` and `error` say why, in the
//! Prometheus API's style). `errors` lists refused items: `{"item":i,"reason":…}` where
//! `item` is the 0-based index of a JSON item or the 1-based line of a text line, or
//! `{"line":l,"column":c,"reason":…}` for a syntax error, or
//! `{"series":…,"timestamp":t,"reason":…}` for a decoded sample refused (older than the
//! retention period); at most [`MAX_LISTED_ERRORS`]
//! are listed, `rejected` counts them all. The events endpoint adds `events` and
//! `duplicates`, the batch endpoint `items` (each item's outcome).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Duration;
use strata_core::{AppendStats, Sample, StorageError};
use strata_ingest::batch::ItemOutcome;
use strata_ingest::encoding::EncodingError;
use strata_ingest::prometheus::ParseError;
use strata_ingest::{JsonError, Rejection};

/// Refused items beyond this many are counted but not listed.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// One refused item or line.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ItemError {
    Item {
        item: usize,
        reason: String,
    },
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    /// A sample refused after decoding (e.g. older than the retention period).
    Sample {
        series: String,
        timestamp: i64,
        reason: String,
    },
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub status: &'static str,
    #[serde(rename = "errorType", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub samples_accepted: u64,
    pub series_accepted: u64,
    pub new_series: u64,
    pub metadata_accepted: u64,
    pub rejected: u64,
    pub errors: Vec<ItemError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemOutcome>>,
}

impl IngestReport {
    /// The answer for a stored request.
    pub fn stored(
        stats: AppendStats,
        series: usize,
        metadata: usize,
        rejected: &[Rejection],
    ) -> IngestReport {
        IngestReport {
            status: if rejected.is_empty() {
                "success"
            } else {
                "partial"
            },
            error_type: None,
            error: None,
            samples_accepted: stats.samples,
            series_accepted: series as u64,
            new_series: stats.new_series,
            metadata_accepted: metadata as u64,
            rejected: rejected.len() as u64,
            errors: rejected
                .iter()
                .take(MAX_LISTED_ERRORS)
                .map(|r| ItemError::Item {
                    item: r.item,
                    reason: r.reason.clone(),
                })
                .collect(),
            events: None,
            duplicates: None,
            items: None,
        }
    }

    /// Adds samples refused because retention has already expired them.
    pub fn add_expired(&mut self, expired: &[Sample]) {
        if expired.is_empty() {
            return;
        }
        self.status = "partial";
        self.rejected += expired.len() as u64;
        let room = MAX_LISTED_ERRORS.saturating_sub(self.errors.len());
        self.errors
            .extend(expired.iter().take(room).map(|s| ItemError::Sample {
                series: s.labels.to_string(),
                timestamp: s.t,
                reason:
                    "older than the retention period (METRICS_WARM_STORAGE_RETENTION)".to_owned(),
            }));
    }

    fn refused(error_type: &'static str, error: String, errors: Vec<ItemError>) -> IngestReport {
        IngestReport {
            status: "error",
            error_type: Some(error_type),
            error: Some(error),
            samples_accepted: 0,
            series_accepted: 0,
            new_series: 0,
            metadata_accepted: 0,
            rejected: errors.len() as u64,
            errors,
            events: None,
            duplicates: None,
            items: None,
        }
    }
}

impl IntoResponse for IngestReport {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// Why a whole ingest request was refused (nothing of it stored).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("request body is larger than the limit of {limit} bytes (METRICS_MAX_BODY_SIZE)")]
    TooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?} (use gzip, zstd, snappy or identity)")]
    UnsupportedEncoding(String),
    #[error("unsupported Content-Type {0:?} for this endpoint")]
    UnsupportedMediaType(String),
    #[error("request body cannot be decoded: {0}")]
    CorruptBody(String),
    #[error("{0}")]
    Syntax(ParseError),
    #[error("{0}")]
    Json(#[from] JsonError),
    #[error("{0}")]
    Busy(#[from] crate::app::Busy),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<EncodingError> for IngestError {
    fn from(e: EncodingError) -> Self {
        match e {
            EncodingError::Unsupported(enc) => IngestError::UnsupportedEncoding(enc),
            EncodingError::TooLarge { limit } => IngestError::TooLarge { limit },
            EncodingError::Corrupt(why) => IngestError::CorruptBody(why),
        }
    }
}

impl From<ParseError> for IngestError {
    fn from(e: ParseError) -> Self {
        IngestError::Syntax(e)
    }
}

impl IngestError {
    fn status(&self) -> StatusCode {
        match self {
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::CorruptBody(_) | IngestError::Syntax(_) | IngestError::Json(_) => {
                StatusCode::BAD_REQUEST
            }
            IngestError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Storage(e) => match e {
                StorageError::Backpressure { .. } => StatusCode::TOO_MANY_REQUESTS,
                StorageError::OutOfRetention(_) => StatusCode::BAD_REQUEST,
                StorageError::Io(_) | StorageError::Corrupt(_) | StorageError::Other(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            },
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_type(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => "bad_data",
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::Busy(_) => Some(Duration::from_secs(1)),
            IngestError::Storage(StorageError::Backpressure { retry_after, .. }) => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let errors = match &self {
            IngestError::Syntax(e) => vec![ItemError::Syntax {
                line: e.line,
                column: e.column,
                reason: e.reason.clone(),
            }],
            _ => Vec::new(),
        };
        let report = IngestReport::refused(self.error_type(), self.to_string(), errors);
        let mut response = (self.status(), Json(report)).into_response();
        if let Some(after) = self.retry_after() {
            // Retry-After is whole seconds; round up so clients never retry too early.
            let secs = after.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a valid header"),
            );
        }
        response
    }
}
