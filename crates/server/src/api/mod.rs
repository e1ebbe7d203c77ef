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
mod prometheus;
mod query;
mod response;
mod spec_query;
mod stats;
mod status;

pub use response::{ApiError, ErrorType};

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cache::ResultCache;
use limits::{Admission, Budget, LimitError, Limiter, Refusal};
use metrics::ApiMetrics;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use strata_core::Querier;
use strata_promql::{Engine, EngineOptions, QueryOutput};
use tower_http::compression::predicate::SizeAbove;
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Query protection and caching settings, from the server's configuration.
#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    /// METRICS_QUERY_TIMEOUT: the longest a read request may run; `timeout=` may shorten it.
    pub timeout: Duration,
    /// METRICS_QUERY_MAX_SERIES: the most series one query may select.
    pub max_series: usize,
    /// The most samples one query may load.
    pub max_samples: usize,
    /// The longest one `/api/v1/export` may stream; `timeout=` may shorten it.
    pub export_timeout: Duration,
    /// About how many samples an export reads and writes at a time: its memory bound.
    pub export_window_samples: usize,
    /// METRICS_MAX_CONCURRENT_QUERIES: requests admitted at once; later ones queue
    /// for up to `queue_timeout`, then are refused.
    pub max_concurrent: usize,
    /// Evaluations running at once (storage and engine work of admitted requests);
    /// the others wait their turn in arrival order. One per core by default.
    pub eval_workers: usize,
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
    /// The most points (samples of result series) the cache holds in all, about 16
    /// bytes each; a larger result is not cached.
    pub cache_max_points: usize,
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
            export_timeout: Duration::from_secs(3600),
            export_window_samples: 500_000,
            max_concurrent: 100,
            eval_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            cache_ttl: Duration::from_secs(300),
            lookback_delta: Duration::from_secs(300),
            hot_storage_ttl: Duration::from_secs(300),
            queue_timeout: Duration::from_secs(2),
            cache_max_entries: 1024,
            cache_max_points: 5_000_000,
            storage_retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Everything the read APIs need.
pub struct QueryApi {
    pub store: Arc<dyn Querier>,
    pub config: QueryApiConfig,
    engine: Engine,
    limiter: Limiter,
    query_cache: ResultCache<QueryOutput>,
    spec_cache: ResultCache<spec_query::SpecResults>,
    metrics: ApiMetrics,
    started: SystemTime,
    /// Numbers the spec API's `query_id`s.
    query_ids: AtomicU64,
}

impl QueryApi {
    pub fn new(store: Arc<dyn Querier>, config: QueryApiConfig) -> Arc<QueryApi> {
        let engine = Engine::new(EngineOptions {
            lookback_delta: config.lookback_delta,
            max_samples: config.max_samples,
            max_series: config.max_series,
            // The HTTP layer enforces Prometheus's limit (more than 11,000 steps is refused);
            // the engine refuses at its limit inclusive, so it gets one more.
            max_points_per_series: prometheus::MAX_POINTS_PER_SERIES as usize + 1,
            ..EngineOptions::default()
        });
        let horizon = config.lookback_delta.max(config.hot_storage_ttl);
        Arc::new(QueryApi {
            store,
            engine,
            limiter: Limiter::new(
                config.max_concurrent,
                config.eval_workers,
                config.queue_timeout,
            ),
            query_cache: ResultCache::new(
                config.cache_ttl,
                horizon,
                config.cache_max_entries,
                config.cache_max_points,
            ),
            spec_cache: ResultCache::new(
                config.cache_ttl,
                horizon,
                config.cache_max_entries,
                config.cache_max_points,
            ),
            metrics: ApiMetrics::default(),
            started: SystemTime::now(),
            query_ids: AtomicU64::new(0),
            config,
        })
    }

    /// Appends the query engine's own metrics in Prometheus text format (for `/metrics`).
    pub fn write_metrics(&self, out: &mut String) {
        let cached = self.query_cache.len() + self.spec_cache.len();
        self.metrics.write(out, self.limiter.in_flight(), cached);
    }

    /// Runs storage or engine work under the concurrency limits and the request's deadline
    /// (the configured timeout, shortened by a `timeout` parameter; queueing included).
    async fn run<T, F>(&self, timeout: Option<i64>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        let deadline = Instant::now() + self.timeout(self.config.timeout, timeout);
        let admission = self.admit().await?;
        self.run_admitted(&admission, deadline, work).await
    }

    /// Runs work that takes microseconds (label names of every series: blocks know theirs
    /// from open) under the same admission, but on the calling thread: the hop to an
    /// evaluation worker and back would cost more than the work.
    async fn run_inline<T>(
        &self,
        work: impl FnOnce(&Budget) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _admission = self.admit().await?;
        work(&Budget::new(Instant::now() + self.config.timeout))
    }

    /// `configured`, shortened by a positive `timeout` parameter (milliseconds).
    fn timeout(&self, configured: Duration, requested: Option<i64>) -> Duration {
        match requested {
            Some(ms) if ms > 0 => configured.min(Duration::from_millis(ms as u64)),
            _ => configured,
        }
    }

    /// Admits a request, counting a refusal.
    async fn admit(&self) -> Result<Admission, ApiError> {
        self.limiter
            .admit()
            .await
            .map_err(|refused| self.counted(refused))
    }

    /// Runs one piece of an admitted request's work, counting a timeout.
    async fn run_admitted<T, F>(
        &self,
        admission: &Admission,
        deadline: Instant,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> Result<T, ApiError> + Send + 'static,
    {
        admission
            .run(deadline, work)
            .await
            .map_err(|failed| self.counted(failed))
    }

    fn counted(&self, (e, refusal): LimitError) -> ApiError {
        match refusal {
            Some(Refusal::Busy) => self.metrics.refused("concurrency"),
            Some(Refusal::Timeout) => self.metrics.refused("timeout"),
            None => {}
        }
        e
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
            Err(e) => {
                if e.kind == ErrorType::Internal {
                    tracing::error!(endpoint, error = %e.message, "read request failed");
                }
                e.into_response()
            }
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
            "/api/v1/query",
            get(prometheus::query).post(prometheus::query),
        )
        .route(
            "/api/v1/query_range",
            get(prometheus::query_range).post(prometheus::query_range),
        )
        .route(
            "/api/v1/format_query",
            get(prometheus::format_query).post(prometheus::format_query),
        )
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
        .route("/api/v1/internal/metrics/query", get(spec_query::query))
        .route(
            "/api/v1/internal/metrics/query/batch",
            post(spec_query::batch),
        )
        .merge(status::routes())
        .with_state(api)
        .layer(compression())
}

/// Answers of at least this many bytes are gzipped for clients that accept it; below it
/// the gzip header and the deflate block cost more bytes and time than they save.
pub const GZIP_MIN_BYTES: u16 = 1024;

/// gzip for clients that send `Accept-Encoding: gzip`, as Prometheus and VictoriaMetrics
/// answer Grafana. Level 3: on metric JSON it compresses about as well as the default
/// level 6 (within 2 %), while level 1 (a different, greedy mode in the deflate
/// library) gives answers almost twice as large; on the query path, CPU is worth more
/// than the last bytes. Streamed answers (exports), whose size is unknown, are
/// compressed as they go.
fn compression() -> CompressionLayer<SizeAbove> {
    CompressionLayer::new()
        .quality(CompressionLevel::Precise(3))
        .compress_when(SizeAbove::new(GZIP_MIN_BYTES))
}
