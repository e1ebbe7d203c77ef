//! The spec's internal discovery API: `GET /api/v1/internal/metrics/labels` and
//! `GET /api/v1/internal/metrics/series`.
//!
//! Both take an optional `metric` (a metric name) and any number of `filter` parameters,
//! each one label matcher in PromQL syntax (`job="api"`, `env=~"prod|staging"`,
//! `path!~"/debug.*"`); all must hold. `start`/`end` (RFC 3339 or unix seconds) bound
//! the time range, all of time by default. Errors use the Prometheus error envelope.

use super::discovery::time_range;
use super::params::{self, format_rfc3339, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::response::{json_response, ApiError};
use super::QueryApi;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use strata_core::{Labels, Matcher, TimeRange, METRIC_NAME};

/// The matchers of `metric` and every `filter`.
fn matchers(p: &Params) -> Result<Vec<Matcher>, ApiError> {
    let mut out = Vec::new();
    if let Some(name) = p.get("metric") {
        params::check_metric_name(name)?;
        out.push(Matcher::equal(METRIC_NAME, name));
    }
    for f in p.all("filter") {
        let parsed = params::parse_matchers(f)
            .map_err(|e| params::invalid_param("filter", e.to_string()))?;
        if parsed.len() != 1 {
            return Err(params::invalid_param(
                "filter",
                format!("{f:?} must be exactly one label matcher, like job=\"api\""),
            ));
        }
        out.extend(parsed);
    }
    Ok(out)
}

/// A time range as the spec writes it; an open end is `null`.
#[derive(Debug, Serialize)]
pub struct SpecTimeRange {
    pub start: Option<String>,
    pub end: Option<String>,
}

impl SpecTimeRange {
    pub fn of(range: TimeRange) -> Self {
        let bound = |t: i64| (t != MIN_TIME_MS && t != MAX_TIME_MS).then(|| format_rfc3339(t));
        SpecTimeRange {
            start: bound(range.start),
            end: bound(range.end),
        }
    }
}

/// A series as the spec names it: its metric name and its other labels.
#[derive(Debug, Serialize)]
pub struct SpecSeries {
    pub metric_name: String,
    pub labels: BTreeMap<String, String>,
}

impl SpecSeries {
    pub fn of(labels: &Labels) -> Self {
        SpecSeries {
            metric_name: labels.metric_name().unwrap_or_default().to_owned(),
            labels: labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name.to_owned(), l.value.to_owned()))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct LabelsAnswer {
    metric_name: Option<String>,
    time_range: SpecTimeRange,
    /// Each label name with its values, sorted. `__name__` (the metric names) only when
    /// no `metric` was given.
    labels: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Serialize)]
struct SeriesAnswer {
    time_range: SpecTimeRange,
    /// Series returned.
    count: usize,
    /// Whether `limit` cut the list.
    truncated: bool,
    series: Vec<SpecSeries>,
}

/// Serializes a spec answer, or reports why it could not be.
pub fn spec_json<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn labels(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = labels_answer(&api, p).await;
    api.answer("internal_labels", started, result)
}

async fn labels_answer(api: &QueryApi, p: Params) -> Result<Response, ApiError> {
    let matchers = matchers(&p)?;
    let range = time_range(&p)?;
    let metric_name = p.get("metric").map(str::to_owned);
    let skip_names = metric_name.is_some();
    let store = api.store.clone();
    let labels = api
        .run(None, move |b| {
            let mut out = BTreeMap::new();
            for name in store.label_names(&matchers, range)? {
                b.check()?;
                if skip_names && name == METRIC_NAME {
                    continue;
                }
                let values = store.label_values(&name, &matchers, range)?;
                out.insert(name, values);
            }
            Ok(out)
        })
        .await?;
    spec_json(&LabelsAnswer {
        metric_name,
        time_range: SpecTimeRange::of(range),
        labels,
    })
}

pub async fn series(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = series_answer(&api, p).await;
    api.answer("internal_series", started, result)
}

/// Matching series, at most `limit` (default: METRICS_QUERY_MAX_SERIES).
async fn series_answer(api: &QueryApi, p: Params) -> Result<Response, ApiError> {
    let matchers = matchers(&p)?;
    let range = time_range(&p)?;
    let limit = match p.limit("limit")? {
        0 => api.config.max_series,
        n => n,
    };
    let store = api.store.clone();
    let found = api
        .run(None, move |_| Ok(store.series(&matchers, range)?))
        .await?;
    let truncated = found.len() > limit;
    let series: Vec<SpecSeries> = found.iter().take(limit).map(SpecSeries::of).collect();
    spec_json(&SeriesAnswer {
        time_range: SpecTimeRange::of(range),
        count: series.len(),
        truncated,
        series,
    })
}
