//! The read APIs: the Prometheus HTTP API (queries, discovery, metadata and the status
//! endpoints Grafana probes), VictoriaMetrics-compatible export, and the spec's internal
//! query and discovery API.
//!
//! Every handler parses its parameters (`params`), runs its storage or engine work on a
//! blocking thread under the concurrency limit and deadline (`limits`), and answers in
//! Prometheus's JSON shapes (`json`, `response`). Closed-range query results are cached
//! (`cache`). This module does not ingest, and it does not evaluate PromQL itself: that is
//! `strata_promql`'s job.

mod cache;
mod discovery;
mod export;
mod internal;
mod json;
mod limits;
mod metrics;
pub mod params;
mod response;
mod status;

pub use response::{ApiError, ErrorType};

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use limits::{Budget, Limiter, Refusal};
use metrics::ApiMetrics;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use strata_core::Querier;

/// Query protection and caching settings, from the server's configuration.
#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// METRICS_QUERY_TIMEOUT: the longest a read request may run; `timeout=` may shorten it.
    pub timeout: Duration,
    /// METRICS_QUERY_MAX_SERIES: the most series one query may select.
    pub max_series: usize,
    /// The most samples one query (or one export) may load.
    pub max_samples: usize,
    /// METRICS_MAX_CONCURRENT_QUERIES: requests evaluating at once; later ones queue.
    pub max_concurrent: usize,
    /// METRICS_CACHE_TTL: how long a closed-range result is reused; zero disables the cache.
    pub cache_ttl: Duration,
    /// PromQL's lookback delta.
    pub lookback_delta: Duration,
    /// METRICS_HOT_STORAGE_TTL: data younger than this is "hot": still arriving, never
    /// cached, and reported as `hot_storage` by the spec's query API.
    pub hot_storage_ttl: Duration,
    /// How long a request waits for a free slot before 503 `unavailable`.
    pub queue_timeout: Duration,
    /// The most results the cache holds.
    pub cache_max_entries: usize,
    /// METRICS_WARM_STORAGE_RETENTION, reported by `/api/v1/status/runtimeinfo`.
    pub storage_retention: Duration,
}

impl Default for QueryApiConfig {
    /// The spec's defaults.
    fn default() -> Self {
        QueryApiConfig {
            timeout: Duration::from_secs(30),
            max_series: 10_000,
            max_samples: 50_000_000,
            max_concurrent: 100,
            cache_ttl: Duration::from_secs(300),
            lookback_delta: Duration::from_secs(300),
            hot_storage_ttl: Duration::from_secs(300),
            queue_timeout: Duration::from_secs(2),
            cache_max_entries: 1024,
            storage_retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Everything the read APIs need.
pub struct QueryApi {
    pub store: Arc<dyn Querier>,
    pub config: QueryApiConfig,
    limiter: Limiter,
    metrics: ApiMetrics,
    started: SystemTime,
}

impl QueryApi {
    pub fn new(store: Arc<dyn Querier>, config: QueryApiConfig) -> Arc<QueryApi> {
        Arc::new(QueryApi {
            store,
            limiter: Limiter::new(config.max_concurrent, config.queue_timeout),
            metrics: ApiMetrics::default(),
            started: SystemTime::now(),
            config,
        })
    }

    /// Appends the query engine's own metrics in Prometheus text format (for `/metrics`).
    pub fn write_metrics(&self, out: &mut String) {
        self.metrics.write(out, self.limiter.in_flight(), 0);
    }

    /// Runs storage or engine work under the concurrency limit and the request's deadline
    /// (the configured timeout, shortened by a `timeout` parameter).
    async fn run<T, F>(&self, timeout: Option<i64>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        let timeout = match timeout {
            Some(ms) if ms > 0 => self.config.timeout.min(Duration::from_millis(ms as u64)),
            _ => self.config.timeout,
        };
        self.limiter
            .run(timeout, work)
            .await
            .map_err(|(e, refusal)| {
                match refusal {
                    Some(Refusal::Busy) => self.metrics.refused("concurrency"),
                    Some(Refusal::Timeout) => self.metrics.refused("timeout"),
                    None => {}
                }
                e
            })
    }

    /// Counts a finished request and turns its result into a response.
    fn answer<R: IntoResponse>(
        &self,
        endpoint: &'static str,
        started: Instant,
        result: Result<R, ApiError>,
    ) -> Response {
        self.metrics.observe(
            endpoint,
            result.as_ref().err().map(|e| e.kind),
            started.elapsed(),
        );
        match result {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }

    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// The routes of the read APIs, ready to merge into the server's router.
pub fn router(api: Arc<QueryApi>) -> axum::Router {
    axum::Router::new()
        .route(
            "/api/v1/series",
            get(discovery::series).post(discovery::series),
        )
        .route(
            "/api/v1/labels",
            get(discovery::labels).post(discovery::labels),
        )
        .route("/api/v1/label/{name}/values", get(discovery::label_values))
        .route("/api/v1/metadata", get(discovery::metadata))
        .route("/api/v1/export", get(export::export).post(export::export))
        .route("/api/v1/internal/metrics/labels", get(internal::labels))
        .route("/api/v1/internal/metrics/series", get(internal::series))
        .merge(status::routes())
        .with_state(api)
}
