//! The status endpoints Grafana and Prometheus tooling probe: build and runtime info, the
//! configuration, and the (empty) exemplars, rules and alerts.
//!
//! `buildinfo` reports version `3.0.0`: the Prometheus API level Strata answers, which
//! clients use to pick features; Strata's own version is in `revision` and `branch`.
//! Strata evaluates no recording or alerting rules and stores no exemplars, so those
//! lists are always empty, in Prometheus's shapes, so that health checks pass.

use super::json;
use super::params::format_rfc3339;
use super::response::Success;
use super::QueryApi;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use strata_core::format_duration;

/// The Prometheus API version clients should assume.
pub const PROMETHEUS_API_VERSION: &str = "3.0.0";

pub fn routes() -> Router<Arc<QueryApi>> {
    Router::new()
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/config", get(config))
        .route("/api/v1/query_exemplars", get(empty_list).post(empty_list))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
}

/// Builds a JSON object of string fields.
fn object(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    json::write_list(&mut out, ('{', '}'), fields, |out, (k, v)| {
        json::write_str(out, k);
        out.push(':');
        json::write_str(out, v);
    });
    out
}

async fn buildinfo() -> Success {
    let strata = concat!("strata-", env!("CARGO_PKG_VERSION"));
    Success::new(object(&[
        ("version", PROMETHEUS_API_VERSION),
        ("revision", strata),
        ("branch", strata),
        ("buildUser", ""),
        ("buildDate", ""),
        ("goVersion", ""),
    ]))
}

async fn runtimeinfo(State(api): State<Arc<QueryApi>>) -> Success {
    let started = api
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let started = format_rfc3339(started);
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut data = String::from("{");
    for (key, value) in [
        ("startTime", started.as_str()),
        ("CWD", &cwd),
        ("lastConfigTime", &started),
        (
            "storageRetention",
            &format_duration(api.config.storage_retention),
        ),
    ] {
        json::write_str(&mut data, key);
        data.push(':');
        json::write_str(&mut data, value);
        data.push(',');
    }
    // Go runtime fields have no Rust analogue; goroutines are read as requests in flight.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    data.push_str(&format!(
        "\"reloadConfigSuccess\":true,\"corruptionCount\":0,\"goroutineCount\":{},\"GOMAXPROCS\":{threads}}}",
        api.limiter.in_flight()
    ));
    Success::new(data)
}

async fn config(State(api): State<Arc<QueryApi>>) -> Success {
    let yaml = format!(
        "global:\n  scrape_interval: 1m\n  scrape_timeout: 10s\n  evaluation_interval: 1m\n  query_timeout: {}\n  lookback_delta: {}\n",
        format_duration(api.config.timeout),
        format_duration(api.config.lookback_delta),
    );
    Success::new(object(&[("yaml", &yaml)]))
}

async fn empty_list() -> Success {
    Success::new("[]".into())
}

async fn rules() -> Success {
    Success::new(r#"{"groups":[]}"#.into())
}

async fn alerts() -> Success {
    Success::new(r#"{"alerts":[]}"#.into())
}
