//! The HTTP ingest endpoints: Prometheus text/OpenMetrics, the spec's custom JSON,
//! events, and mixed batches.
//!
//! Every request goes the same way: admission (or 429 when the workers are busy and the
//! queue is full), read the body within the size limit, take a worker, then undo the
//! Content-Encoding, decode and append on a blocking thread, because the store's append
//! returns only once the samples are durable. The answer is sent after the append
//! returned, so a 200 means stored.
//!
//! Events (also inside batches) feed cumulative counters and event-id deduplication
//! kept across requests, so such requests are mapped and appended one at a time. The
//! mapper cannot take an event back: when the store refuses the append (429/503), its
//! ids stay remembered and a resend of the same events reports them as duplicates.

use super::body;
use super::report::{IngestError, IngestReport};
use crate::app::{now_ms, App};
use crate::counters::Source;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use strata_core::{Sample, WriteBatch};
use strata_ingest::batch::ItemOutcome;
use strata_ingest::{prometheus, Decoded, Rejection};

/// What a request decoded to, before it is stored.
struct Outcome {
    batch: WriteBatch,
    rejected: Vec<Rejection>,
    /// Events endpoint: events read and repeated event ids skipped.
    events: Option<(usize, usize)>,
    /// Batch endpoint: each item's outcome.
    items: Option<Vec<ItemOutcome>>,
}

impl From<Decoded> for Outcome {
    fn from(d: Decoded) -> Self {
        Outcome {
            batch: d.batch,
            rejected: d.rejected,
            events: None,
            items: None,
        }
    }
}

/// A decoder: the app, the decoded body, the request's Content-Type and the time of receipt.
type Decoder = fn(&App, &[u8], Option<&str>, i64) -> Result<Outcome, IngestError>;

/// What sets one ingest endpoint apart from the others.
#[derive(Clone, Copy)]
struct Endpoint {
    /// Whose counters the request counts in.
    source: Source,
    /// Refuses a Content-Type the endpoint does not read.
    accepts: fn(Option<&str>) -> Result<(), IngestError>,
    decoder: Decoder,
}

/// `POST /api/v1/internal/metrics/prometheus` and `/api/v1/import/prometheus`.
pub async fn prometheus(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let endpoint = Endpoint {
        source: Source::Prometheus,
        accepts: body::check_text,
        decoder: |app, data, content_type, now| {
            let format = prometheus::detect_format(content_type, data);
            Ok(Outcome::from(Decoded {
                batch: app.prometheus.parse(data, format, now)?,
                rejected: Vec::new(),
            }))
        },
    };
    ingest(app, endpoint, headers, body).await
}

/// `POST /api/v1/internal/metrics/custom`.
pub async fn custom(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let endpoint = Endpoint {
        source: Source::Custom,
        accepts: body::check_json,
        decoder: |_, data, _, now| Ok(strata_ingest::custom::parse(data, now)?.into()),
    };
    ingest(app, endpoint, headers, body).await
}

/// `POST /api/v1/internal/metrics/events`.
pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let endpoint = Endpoint {
        source: Source::Events,
        accepts: body::check_json,
        decoder: |app, data, _, now| {
            let mapped = app.events.lock().map(data, now)?;
            Ok(Outcome {
                events: Some((mapped.events, mapped.duplicates)),
                ..mapped.decoded.into()
            })
        },
    };
    ingest(app, endpoint, headers, body).await
}

/// `POST /api/v1/internal/metrics/batch`.
pub async fn batch(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let endpoint = Endpoint {
        source: Source::Batch,
        accepts: body::check_json,
        decoder: |app, data, _, now| {
            let max_items = app.config.batch_max_items;
            let decoded =
                strata_ingest::batch::parse(data, now, max_items, &mut app.events.lock())?;
            let rejected = batch_rejections(&decoded.items);
            Ok(Outcome {
                batch: decoded.batch,
                rejected,
                events: None,
                items: Some(decoded.items),
            })
        },
    };
    ingest(app, endpoint, headers, body).await
}

/// Whole items refused, then the refused parts of the other items, under the item's index.
fn batch_rejections(items: &[ItemOutcome]) -> Vec<Rejection> {
    let whole = items.iter().filter_map(|item| {
        item.error.as_ref().map(|reason| Rejection {
            item: item.index,
            reason: reason.clone(),
        })
    });
    let parts = items.iter().flat_map(|item| {
        item.rejected.iter().map(|part| Rejection {
            item: item.index,
            reason: format!("part {}: {}", part.item, part.reason),
        })
    });
    whole.chain(parts).collect()
}

async fn ingest(app: Arc<App>, endpoint: Endpoint, headers: HeaderMap, body: Body) -> Response {
    let source = endpoint.source;
    let counters = app.counters.source(source);
    counters.requests.fetch_add(1, Relaxed);
    match receive(Arc::clone(&app), endpoint, headers, body).await {
        Ok(report) => {
            counters.rejected_items.fetch_add(report.rejected, Relaxed);
            report.into_response()
        }
        Err(e) => {
            counters.failed_requests.fetch_add(1, Relaxed);
            tracing::debug!(format = source.as_str(), error = %e, "ingest request refused");
            e.into_response()
        }
    }
}

async fn receive(
    app: Arc<App>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Result<IngestReport, IngestError> {
    let Endpoint {
        source,
        accepts,
        decoder,
    } = endpoint;
    let now = now_ms();
    let media_type = body::media_type(&headers)?;
    accepts(media_type.as_deref())?;
    let _admission = app.admit()?;
    let limit = app.config.max_body_size;
    let raw = body::read_limited(body, limit).await?;
    let turn = app.worker().await;
    app.counters
        .source(source)
        .bytes
        .fetch_add(raw.len() as u64, Relaxed);
    let worker = Arc::clone(&app);
    let report = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let data = body::decode(&headers, &raw, limit)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        // Event counters are cumulative: requests that advance them are appended in the
        // order they were mapped, so a lower total never overwrites a higher one.
        let _in_order =
            matches!(source, Source::Events | Source::Batch).then(|| worker.event_writes.lock());
        let outcome = decoder(&worker, &data, content_type, now)?;
        store(&worker, source, outcome)
    })
    .await
    .map_err(|e| IngestError::Internal(format!("ingest worker failed: {e}")))??;
    Ok(report)
}

fn store(app: &App, source: Source, mut outcome: Outcome) -> Result<IngestReport, IngestError> {
    let expired = take_expired(app, &mut outcome.batch);
    let (stats, series) = app.append_blocking(source, &outcome.batch)?;
    let mut report = IngestReport::stored(
        stats,
        series,
        outcome.batch.metadata.len(),
        &outcome.rejected,
    );
    report.add_expired(&expired);
    if let Some((events, duplicates)) = outcome.events {
        report.events = Some(events);
        report.duplicates = Some(duplicates);
    }
    report.items = outcome.items;
    Ok(report)
}

/// Removes the samples retention has already expired, so that the rest of the request
/// is stored (the store would refuse the whole batch for one of them).
fn take_expired(app: &App, batch: &mut WriteBatch) -> Vec<Sample> {
    let Some(retention) = app.config.warm_storage_retention else {
        return Vec::new();
    };
    let cutoff = now_ms().saturating_sub(retention.as_millis() as i64);
    if batch.samples.iter().all(|s| s.t >= cutoff) {
        return Vec::new();
    }
    let (kept, expired) = std::mem::take(&mut batch.samples)
        .into_iter()
        .partition(|s| s.t >= cutoff);
    batch.samples = kept;
    expired
}
