//! Liveness and readiness: Prometheus's plain `/-/healthy` and `/-/ready`, and the
//! spec's detailed `GET /api/v1/internal/metrics/health`.

use crate::app::App;
use crate::counters::Source;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use strata_core::format_duration;

/// `GET /-/healthy`: the process is up.
pub async fn healthy() -> &'static str {
    "Strata is Healthy.\n"
}

/// `GET /-/ready`: the store is open and the listeners take traffic.
pub async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        "Strata is Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

/// `GET /api/v1/internal/metrics/health`: status, version, uptime, storage state and
/// ingest counters. 503 while the store's last append failed (until one succeeds).
pub async fn health(State(app): State<Arc<App>>) -> Response {
    let last_error = app.last_storage_error();
    let store_stats: Map<String, Value> = app
        .store
        .stats()
        .into_iter()
        .map(|s| (s.name.to_owned(), json!(s.value)))
        .collect();
    let ingest: Map<String, Value> = Source::ALL
        .iter()
        .map(|&s| {
            (
                s.as_str().to_owned(),
                json!(app.counters.source(s).snapshot()),
            )
        })
        .collect();
    let c = &app.config;
    let started_at: chrono::DateTime<chrono::Utc> = app.started_at().into();
    let body = json!({
        "status": if last_error.is_none() { "healthy" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.uptime().as_secs_f64(),
        "started_at": started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "ready": app.is_ready(),
        "storage": {
            "engine": app.store.engine(),
            "state": if last_error.is_none() { "ok" } else { "error" },
            "last_error": last_error,
            "data_dir": c.data_dir,
            "wal_sync": c.wal_sync,
            "retention": c.warm_storage_retention.map(format_duration),
            "stats": store_stats,
        },
        "ingest": ingest,
        "statsd": {
            "address": c.statsd_addr.map(|a| a.to_string()),
            "flush_interval": format_duration(c.ingestion_flush_interval),
            "aggregator": app.statsd.lock().stats(),
        },
        "retention_policies": c.retention_policies,
    });
    let status = if last_error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
