//! The spec's query API: `GET /api/v1/internal/metrics/query` and
//! `POST /api/v1/internal/metrics/query/batch`, answering `metrics_query_response`.
//!
//! Parameters: `query` (PromQL), `start` and `end` (RFC 3339 or unix seconds; default the
//! last hour), `aggregation` (the step, a duration like `1m`; default `1m`), `timeout`.
//! The expression is evaluated as a PromQL range query at every `aggregation` step.
//!
//! - `value`: the expression's value at the step (PromQL semantics: for a plain selector,
//!   the latest sample within the lookback delta). NaN and infinities are `null`.
//! - `count`: the number of raw samples the series stored in the step's window
//!   `(t - aggregation, t]`. It is counted only when the query is a plain series selector
//!   (`name{label="v"}`), whose results are stored series; results an expression computes
//!   (functions, aggregations, arithmetic) have no raw samples of their own and count 0.
//! - `statistics`: min, max, avg and the 50th/95th/99th percentiles (linear
//!   interpolation between closest ranks, as PromQL's `quantile`) of the series' values.
//! - `data_source`: `hot_storage` when the whole range lies within METRICS_HOT_STORAGE_TTL
//!   of now (the in-memory head), else `warm_storage` (the embedded TSDB's blocks).
//! - `cache_hit`: whether the results came from the result cache (closed ranges only).

use super::internal::{spec_json, SpecTimeRange};
use super::params::{parse_duration_ms, parse_selector, parse_time, Params};
use super::prometheus::range_time;
use super::response::ApiError;
use super::QueryApi;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use strata_core::{format_duration, Labels, Point, TimeRange, METRIC_NAME};
use strata_promql::Value;

/// The most queries one batch may hold.
pub const MAX_BATCH_QUERIES: usize = 100;
const DEFAULT_RANGE_MS: i64 = 3_600_000;
const DEFAULT_STEP_MS: i64 = 60_000;

/// One query of the spec API, as parameters or as a batch item.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpecQuery {
    /// An optional name the batch answer repeats.
    #[serde(default)]
    pub id: Option<String>,
    pub query: String,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub aggregation: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DataPoint {
    pub timestamp: String,
    pub value: f64,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Statistics {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub avg: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SpecResult {
    pub metric_name: String,
    pub labels: BTreeMap<String, String>,
    pub data_points: Vec<DataPoint>,
    pub statistics: Statistics,
}

/// What the cache keeps of a spec query: everything but the per-request fields.
#[derive(Debug, Serialize)]
pub struct SpecResults {
    pub results: Vec<SpecResult>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct MetricsQueryResponse<'a> {
    query_id: String,
    timestamp: String,
    time_range: SpecTimeRange,
    aggregation: String,
    results: &'a [SpecResult],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    execution_time_ms: u64,
    data_source: &'static str,
    cache_hit: bool,
}

pub async fn query(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let q = SpecQuery {
        id: None,
        query: p.get("query").unwrap_or_default().to_owned(),
        start: p.get("start").map(str::to_owned),
        end: p.get("end").map(str::to_owned),
        aggregation: p.get("aggregation").map(str::to_owned),
        timeout: p.get("timeout").map(str::to_owned),
    };
    let result = match run_spec_query(&api, &q).await {
        Ok(body) => spec_json(&serde_json::json!({ "metrics_query_response": body })),
        Err(e) => Err(e),
    };
    api.answer("internal_query", started, result)
}

/// The parsed times of a spec query.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
    step: i64,
}

fn window(api: &QueryApi, q: &SpecQuery) -> Result<Window, ApiError> {
    let time = |name: &str, raw: &Option<String>, default: i64| match raw.as_deref() {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).map_err(|e| super::params::invalid_param(name, e)),
    };
    let end = time("end", &q.end, api.now_ms())?;
    let start = time("start", &q.start, end - DEFAULT_RANGE_MS)?;
    let step = match q.aggregation.as_deref() {
        None | Some("") => DEFAULT_STEP_MS,
        Some(s) => {
            parse_duration_ms(s).map_err(|e| super::params::invalid_param("aggregation", e))?
        }
    };
    Ok(Window { start, end, step })
}

/// Runs one spec query and builds its `metrics_query_response`.
async fn run_spec_query(api: &Arc<QueryApi>, q: &SpecQuery) -> Result<serde_json::Value, ApiError> {
    let started = Instant::now();
    let w = window(api, q)?;
    let when = range_time(w.start, w.end, Some(w.step))?;
    let timeout = match q.timeout.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(parse_duration_ms(s).map_err(|e| super::params::invalid_param("timeout", e))?)
        }
    };
    strata_promql::parse_check(&q.query)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {}", e.message)))?;
    let worker = api.clone();
    let expr = q.query.clone();
    let (results, cache_hit) = api
        .cached(&api.spec_cache, &q.query, when, timeout, move |budget| {
            let out = worker.evaluate(&expr, when, budget)?;
            let counts = raw_counts(&worker, &expr, &w, budget)?;
            Ok(spec_results(out.value, out.warnings, &counts, w.step))
        })
        .await?;
    let hot_since = api.now_ms() - api.config.hot_storage_ttl.as_millis() as i64;
    let id = api.query_ids.fetch_add(1, Ordering::Relaxed);
    let now = chrono::Utc::now();
    let body = MetricsQueryResponse {
        query_id: format!("query_{}_{id}", now.format("%Y%m%d_%H%M%S")),
        timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        time_range: SpecTimeRange::of(TimeRange::new(w.start, w.end)),
        aggregation: format_duration(std::time::Duration::from_millis(w.step as u64)),
        results: &results.results,
        warnings: &results.warnings,
        execution_time_ms: started.elapsed().as_millis() as u64,
        data_source: if w.start >= hot_since {
            "hot_storage"
        } else {
            "warm_storage"
        },
        cache_hit,
    };
    serde_json::to_value(&body).map_err(|e| ApiError::internal(e.to_string()))
}

/// The raw points of each stored series a plain-selector query reads, over the whole
/// window (including the first step's); empty for any other expression.
fn raw_counts(
    api: &QueryApi,
    expr: &str,
    w: &Window,
    budget: &super::limits::Budget,
) -> Result<BTreeMap<Labels, Vec<Point>>, ApiError> {
    let Ok(matchers) = parse_selector(expr) else {
        return Ok(BTreeMap::new());
    };
    budget.check()?;
    let range = TimeRange::new(w.start - w.step + 1, w.end);
    Ok(api
        .store
        .select(&matchers, range)?
        .into_iter()
        .map(|s| (s.labels, s.points))
        .collect())
}

/// Shapes a range query's matrix as the spec's results.
fn spec_results(
    value: Value,
    warnings: Vec<String>,
    raw: &BTreeMap<Labels, Vec<Point>>,
    step: i64,
) -> SpecResults {
    let series = match value {
        Value::Matrix(series) => series,
        // A range query always answers a matrix; anything else has no series to report.
        _ => Vec::new(),
    };
    let results = series
        .into_iter()
        .map(|s| {
            let raw = raw.get(&s.labels).map(Vec::as_slice).unwrap_or_default();
            let data_points = s
                .points
                .iter()
                .map(|p| DataPoint {
                    timestamp: super::params::format_rfc3339(p.t),
                    value: p.v,
                    count: count_in_window(raw, p.t - step, p.t),
                })
                .collect();
            let values: Vec<f64> = s.points.iter().map(|p| p.v).collect();
            SpecResult {
                metric_name: s.labels.metric_name().unwrap_or_default().to_owned(),
                labels: s
                    .labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME)
                    .map(|l| (l.name.to_owned(), l.value.to_owned()))
                    .collect(),
                data_points,
                statistics: statistics(&values),
            }
        })
        .collect();
    SpecResults { results, warnings }
}

/// Points with `after < t <= until`, in a time-sorted slice.
fn count_in_window(points: &[Point], after: i64, until: i64) -> u64 {
    let lo = points.partition_point(|p| p.t <= after);
    let hi = points.partition_point(|p| p.t <= until);
    hi.saturating_sub(lo) as u64
}

/// Summary statistics of the values that are numbers (NaN left out).
pub fn statistics(values: &[f64]) -> Statistics {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let quantile = |q: f64| {
        (n > 0).then(|| {
            let rank = q * (n - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            let weight = rank - lo as f64;
            sorted[lo] * (1.0 - weight) + sorted[hi] * weight
        })
    };
    Statistics {
        min: sorted.first().copied(),
        max: sorted.last().copied(),
        avg: (n > 0).then(|| sorted.iter().sum::<f64>() / n as f64),
        p50: quantile(0.5),
        p95: quantile(0.95),
        p99: quantile(0.99),
    }
}

/// A batch: `{"queries":[…]}` or a bare array of queries.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BatchRequest {
    Wrapped { queries: Vec<SpecQuery> },
    Bare(Vec<SpecQuery>),
}

pub async fn batch(State(api): State<Arc<QueryApi>>, body: axum::body::Bytes) -> Response {
    let started = Instant::now();
    let result = batch_answer(&api, &body).await;
    api.answer("internal_query_batch", started, result)
}

async fn batch_answer(api: &Arc<QueryApi>, body: &[u8]) -> Result<Response, ApiError> {
    let queries = match serde_json::from_slice::<BatchRequest>(body) {
        Ok(BatchRequest::Wrapped { queries } | BatchRequest::Bare(queries)) => queries,
        Err(e) => {
            return Err(ApiError::bad_data(format!(
                "invalid batch: {e}; expected {{\"queries\":[{{\"query\":…,\"start\":…,\"end\":…,\"aggregation\":…}}]}}"
            )))
        }
    };
    if queries.len() > MAX_BATCH_QUERIES {
        return Err(ApiError::bad_data(format!(
            "a batch holds at most {MAX_BATCH_QUERIES} queries, got {}",
            queries.len()
        )));
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, q) in queries.into_iter().enumerate() {
        let api = api.clone();
        tasks.spawn(async move {
            let outcome = run_spec_query(&api, &q).await;
            (index, q.id, outcome)
        });
    }
    let mut items = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (index, id, outcome) =
            done.map_err(|e| ApiError::internal(format!("batch query failed: {e}")))?;
        let item = match outcome {
            Ok(resp) => serde_json::json!({
                "index": index, "id": id, "status": "success", "metrics_query_response": resp
            }),
            Err(e) => serde_json::json!({
                "index": index, "id": id, "status": "error",
                "errorType": e.kind.as_str(), "error": e.message
            }),
        };
        items.push((index, item));
    }
    items.sort_by_key(|(i, _)| *i);
    let failed = items.iter().filter(|(_, v)| v["status"] == "error").count();
    let answer = serde_json::json!({
        "batch_query_response": {
            "total": items.len(),
            "succeeded": items.len() - failed,
            "failed": failed,
            "execution_time_ms": started.elapsed().as_millis() as u64,
            "results": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        }
    });
    spec_json(&answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_interpolate_between_ranks() {
        let s = statistics(&[4.0, 1.0, f64::NAN, 3.0, 2.0]);
        assert_eq!((s.min, s.max, s.avg), (Some(1.0), Some(4.0), Some(2.5)));
        assert_eq!(s.p50, Some(2.5));
        assert!((s.p95.unwrap() - 3.85).abs() < 1e-12);
        let empty = statistics(&[f64::NAN]);
        assert_eq!((empty.min, empty.p99), (None, None));
    }

    #[test]
    fn windows_are_left_open() {
        let pts: Vec<Point> = [0, 15, 30, 45, 60]
            .iter()
            .map(|&t| Point { t, v: 0.0 })
            .collect();
        assert_eq!(count_in_window(&pts, 0, 30), 2);
        assert_eq!(count_in_window(&pts, -1, 60), 5);
        assert_eq!(count_in_window(&pts, 60, 120), 0);
    }
}
