//! Liveness and readiness: Prometheus's plain `/-/healthy` and `/-/ready`, and the
//! spec's detailed `GET /api/v1/internal/metrics/health`.

use crate::app::App;
use crate::config::RetentionPolicy;
use crate::counters::{Source, SourceSnapshot};
use crate::store::{figures, Figure};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use strata_core::format_duration;
use strata_ingest::statsd::StatsdStats;

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

#[derive(Serialize)]
struct Health {
    /// `healthy`, or `degraded` while the store's last append failed.
    status: &'static str,
    version: &'static str,
    uptime_seconds: f64,
    started_at: String,
    ready: bool,
    storage: Storage,
    ingest: BTreeMap<&'static str, SourceSnapshot>,
    statsd: Statsd,
    settings: Settings,
}

#[derive(Serialize)]
struct Storage {
    engine: &'static str,
    /// `ok`, or `error` with `last_error`.
    state: &'static str,
    last_error: Option<String>,
    data_dir: PathBuf,
    wal_sync: bool,
    stats: BTreeMap<&'static str, Figure>,
}

#[derive(Serialize)]
struct Statsd {
    address: Option<String>,
    flush_interval: String,
    aggregator: StatsdStats,
}

/// The retention settings in force, as Prometheus durations.
#[derive(Serialize)]
struct Settings {
    hot_storage_ttl: String,
    /// `null` when data is kept forever.
    warm_storage_retention: Option<String>,
    cold_storage_retention: String,
    compression_level: u32,
    retention_policies: BTreeMap<String, RetentionPolicy>,
}

/// `GET /api/v1/internal/metrics/health`: status, version, uptime, storage state and
/// ingest counters. 503 while the store's last append failed (until one succeeds).
pub async fn health(State(app): State<Arc<App>>) -> Response {
    let last_error = app.last_storage_error();
    let c = &app.config;
    let started_at: chrono::DateTime<chrono::Utc> = app.started_at().into();
    let health = Health {
        status: if last_error.is_none() {
            "healthy"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.uptime().as_secs_f64(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ready: app.is_ready(),
        storage: Storage {
            engine: app.store.engine(),
            state: if last_error.is_none() { "ok" } else { "error" },
            last_error,
            data_dir: c.data_dir.clone(),
            wal_sync: c.wal_sync,
            stats: figures(app.store.stats()),
        },
        ingest: Source::ALL
            .iter()
            .map(|&s| (s.as_str(), app.counters.source(s).snapshot()))
            .collect(),
        statsd: Statsd {
            address: c.statsd_addr.map(|a| a.to_string()),
            flush_interval: format_duration(c.ingestion_flush_interval),
            aggregator: app.statsd.lock().stats(),
        },
        settings: Settings {
            hot_storage_ttl: format_duration(c.hot_storage_ttl),
            warm_storage_retention: c.warm_storage_retention.map(format_duration),
            cold_storage_retention: format_duration(c.cold_storage_retention),
            compression_level: c.compression_level,
            retention_policies: c.retention_policies.clone(),
        },
    };
    let status = if health.storage.last_error.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health)).into_response()
}
