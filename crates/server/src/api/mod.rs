//! The read APIs (placeholder; the api work replaces the insides, keeping this interface).

use std::sync::Arc;
use std::time::Duration;
use strata_core::Querier;

/// Query protection and caching settings, from the server's configuration.
#[derive(Debug, Clone)]
pub struct QueryApiConfig {
    pub timeout: Duration,
    pub max_series: usize,
    pub max_samples: usize,
    pub max_concurrent: usize,
    pub cache_ttl: Duration,
    pub lookback_delta: Duration,
}

/// Everything the read APIs need.
pub struct QueryApi {
    pub store: Arc<dyn Querier>,
    pub config: QueryApiConfig,
}

impl QueryApi {
    pub fn new(store: Arc<dyn Querier>, config: QueryApiConfig) -> Arc<QueryApi> {
        Arc::new(QueryApi { store, config })
    }

    /// Appends the query engine's own metrics in Prometheus text format (for `/metrics`).
    pub fn write_metrics(&self, _out: &mut String) {}
}

/// The routes of the read APIs, ready to merge into the server's router.
pub fn router(api: Arc<QueryApi>) -> axum::Router {
    axum::Router::new().with_state(api)
}
