//! The Prometheus query endpoints: `/api/v1/query`, `/api/v1/query_range` and
//! `/api/v1/format_query`, GET or form POST, answered in Prometheus's exact JSON.

use super::json;
use super::params::Params;
use super::query::{Evaluation, QueryTime};
use super::response::{ApiError, Success};
use super::stats::{self, SampleCounts};
use super::QueryApi;
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use strata_promql::{QueryOutput, Value};

/// The most points a range query may return per series, as Prometheus limits it.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;
const TRUNCATED: &str = "results truncated due to limit";

pub async fn query(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = query_answer(&api, p).await;
    api.answer("query", started, result)
}

async fn query_answer(api: &Arc<QueryApi>, p: Params) -> Result<Success, ApiError> {
    let expr = p.get("query").unwrap_or_default().to_owned();
    let t = p.time_or("time", api.now_ms())?;
    let timeout = p.duration("timeout")?;
    let limit = p.limit("limit")?;
    let evaluation = api.query(&expr, QueryTime::Instant(t), timeout).await?;
    Ok(answer(&evaluation, limit, wants_stats(&p)))
}

pub async fn query_range(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = query_range_answer(&api, p).await;
    api.answer("query_range", started, result)
}

async fn query_range_answer(api: &Arc<QueryApi>, p: Params) -> Result<Success, ApiError> {
    let expr = p.get("query").unwrap_or_default().to_owned();
    let start = p.time("start")?;
    let end = p.time("end")?;
    let when = range_time(start, end, p.duration("step")?)?;
    let timeout = p.duration("timeout")?;
    let limit = p.limit("limit")?;
    let evaluation = api.query(&expr, when, timeout).await?;
    Ok(answer(&evaluation, limit, wants_stats(&p)))
}

/// Prometheus adds statistics for any non-empty `stats` value (`all` is the usual one).
fn wants_stats(p: &Params) -> bool {
    p.get("stats").is_some_and(|v| !v.is_empty())
}

/// The rendered result, with its statistics when asked for.
fn answer(e: &Evaluation, limit: usize, with_stats: bool) -> Success {
    let mut success = render(&e.output, limit);
    if with_stats {
        let samples = if e.cached {
            SampleCounts::default()
        } else {
            SampleCounts::of(&e.output)
        };
        // `data` is an object; the statistics go in as its last member.
        success.data.pop();
        success.data.push_str(",\"stats\":");
        stats::write(&mut success.data, &e.timings, samples);
        success.data.push('}');
    }
    success
}

/// Checks a range query's times and step as Prometheus does, before any work.
pub fn range_time(start: i64, end: i64, step: Option<i64>) -> Result<QueryTime, ApiError> {
    let step = step.ok_or_else(|| {
        ApiError::bad_data(r#"invalid parameter "step": cannot parse "" to a valid duration"#)
    })?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(QueryTime::Range { start, end, step })
}

pub async fn format_query(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = strata_promql::format_query(p.get("query").unwrap_or_default())
        .map(|text| {
            let mut data = String::new();
            json::write_str(&mut data, &text);
            Success::new(data)
        })
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {}", e.message)));
    api.answer("format_query", started, result)
}

/// About the length of `value` written as JSON, so that a large matrix's text is
/// allocated once rather than copied at every doubling.
fn estimated_len(value: &Value) -> usize {
    const SAMPLE: usize = 24;
    const SERIES: usize = 128;
    64 + match value {
        Value::Scalar { .. } | Value::String { .. } => 0,
        Value::Vector(samples) => samples.len() * (SERIES + SAMPLE),
        Value::Matrix(series) => series
            .iter()
            .map(|s| SERIES + s.points.len() * SAMPLE)
            .sum::<usize>(),
    }
}

/// `{"resultType":…,"result":…}` with the engine's warnings and infos; `limit` (0: none)
/// caps the series of a vector or matrix.
pub fn render(out: &QueryOutput, limit: usize) -> Success {
    let mut warnings = out.warnings.clone();
    let mut data = String::with_capacity(estimated_len(&out.value));
    data.push_str("{\"resultType\":\"");
    data.push_str(out.value.type_name());
    data.push_str("\",\"result\":");
    let cap = |n: usize, warnings: &mut Vec<String>| {
        if limit > 0 && n > limit {
            warnings.push(TRUNCATED.to_owned());
            limit
        } else {
            n
        }
    };
    match &out.value {
        Value::Scalar { t, v } => json::write_sample(&mut data, *t, *v),
        Value::String { t, v } => {
            data.push('[');
            json::write_timestamp(&mut data, *t);
            data.push(',');
            json::write_str(&mut data, v);
            data.push(']');
        }
        Value::Vector(samples) => {
            let n = cap(samples.len(), &mut warnings);
            json::write_list(&mut data, ('[', ']'), &samples[..n], |data, s| {
                data.push_str("{\"metric\":");
                json::write_labels(data, &s.labels);
                data.push_str(",\"value\":");
                json::write_sample(data, s.t, s.v);
                data.push('}');
            });
        }
        Value::Matrix(series) => {
            let n = cap(series.len(), &mut warnings);
            json::write_list(&mut data, ('[', ']'), &series[..n], |data, s| {
                data.push_str("{\"metric\":");
                json::write_labels(data, &s.labels);
                data.push_str(",\"values\":");
                json::write_list(data, ('[', ']'), &s.points, |data, p| {
                    json::write_sample(data, p.t, p.v)
                });
                data.push('}');
            });
        }
    }
    data.push('}');
    Success {
        data,
        warnings,
        infos: out.infos.clone(),
    }
}
