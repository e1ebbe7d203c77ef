//! The HTTP API: one module per endpoint group, assembled with the read APIs' router.

mod admin;
mod body;
pub mod decoders;
mod health;
mod ingest;
mod metrics;
pub mod report;

use crate::api::{self, QueryApi};
use crate::app::App;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Every route the server answers.
pub fn router(app: Arc<App>, api: Arc<QueryApi>) -> Router {
    let prometheus = post(ingest::prometheus);
    let own = Router::new()
        .route("/api/v1/internal/metrics/prometheus", prometheus.clone())
        .route("/api/v1/import/prometheus", prometheus)
        .route("/api/v1/internal/metrics/custom", post(ingest::custom))
        .route("/api/v1/internal/metrics/events", post(ingest::events))
        .route("/api/v1/internal/metrics/batch", post(ingest::batch))
        .route("/api/v1/internal/metrics/health", get(health::health))
        .route("/api/v1/admin/metrics/flush", post(admin::flush))
        .route("/-/healthy", get(health::healthy))
        .route("/-/ready", get(health::ready))
        .with_state(Arc::clone(&app));
    let metrics = Router::new()
        .route("/metrics", get(metrics::metrics))
        .with_state((app, Arc::clone(&api)));
    own.merge(metrics).merge(api::router(api))
}
