//! Administrative endpoints.

use crate::app::App;
use crate::statsd;
use crate::store::figures;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// `POST /api/v1/admin/metrics/flush`: writes pending StatsD aggregates, then has the
/// store cut its in-memory head into a synced block (for backups and benchmarks).
pub async fn flush(State(app): State<Arc<App>>) -> Response {
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        statsd::flush_aggregates(&app)?;
        app.store.flush()?;
        Ok::<_, strata_core::StorageError>(app.store.stats())
    })
    .await;
    let took_ms = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(Ok(stats)) => Json(json!({
            "status": "success",
            "duration_ms": took_ms,
            "stats": figures(stats),
        }))
        .into_response(),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("flush failed: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    let body = json!({"status": "error", "errorType": "internal", "error": message});
    (status, Json(body)).into_response()
}
