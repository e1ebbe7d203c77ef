//! `/api/v1/export`: raw samples as VictoriaMetrics' JSON lines, one series per line:
//! `{"metric":{"__name__":"up","job":"a"},"values":[1,0.5],"timestamps":[1700000000000,…]}`.
//!
//! Timestamps are integer milliseconds. Values are JSON numbers; NaN is `null` and the
//! infinities are `"Infinity"`/`"-Infinity"`, as VictoriaMetrics writes them.
//! Staleness markers are not data and are left out. `max_rows_per_line` splits long
//! series over several lines, as VictoriaMetrics does.
//!
//! The body is built whole before it is sent (the server crate has no stream adapter for
//! axum bodies), so an export is bounded by its own samples limit and answers 422 beyond it.

use super::discovery::time_range;
use super::json;
use super::params::Params;
use super::response::{ApiError, ErrorType};
use super::QueryApi;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use strata_core::{is_stale_nan, Labels, Point};

pub async fn export(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = export_body(&api, p).await.map(|body| {
        let mut resp = body.into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/stream+json; charset=utf-8"),
        );
        resp
    });
    api.answer("export", started, result)
}

async fn export_body(api: &QueryApi, p: Params) -> Result<String, ApiError> {
    let selectors = p.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("missing `match[]` query arg"));
    }
    let range = time_range(&p)?;
    let rows_per_line = p.limit("max_rows_per_line")?;
    let max_samples = api.config.export_max_samples;
    let store = api.store.clone();
    api.run(None, move |budget| {
        let mut series: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
        let mut loaded = 0usize;
        for matchers in &selectors {
            budget.check()?;
            for s in store.select(matchers, range)? {
                loaded += s.points.len();
                if loaded > max_samples {
                    return Err(ApiError::new(
                        ErrorType::Execution,
                        format!(
                            "export would load more than {max_samples} samples (the export samples \
                             limit); narrow match[] or the time range"
                        ),
                    ));
                }
                series.entry(s.labels).or_insert(s.points);
            }
        }
        let mut out = String::new();
        for (labels, mut points) in series {
            budget.check()?;
            points.retain(|p| !is_stale_nan(p.v));
            let chunk = if rows_per_line > 0 {
                rows_per_line
            } else {
                points.len().max(1)
            };
            for part in points.chunks(chunk) {
                write_line(&mut out, &labels, part);
            }
        }
        Ok(out)
    })
    .await
}

/// One JSON line of a series' points.
fn write_line(out: &mut String, labels: &Labels, points: &[Point]) {
    out.push_str("{\"metric\":");
    json::write_labels(out, labels);
    out.push_str(",\"values\":");
    json::write_list(out, ('[', ']'), points, |out, p| write_value(out, p.v));
    out.push_str(",\"timestamps\":");
    json::write_list(out, ('[', ']'), points, |out, p| {
        let _ = write!(out, "{}", p.t);
    });
    out.push_str("}\n");
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("null");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        json::write_float_bare(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_victoriametrics_writes_them() {
        let labels = Labels::new([("__name__", "up"), ("job", "a\"b")]).unwrap();
        let points = [
            Point { t: 1000, v: 1.5 },
            Point {
                t: 2000,
                v: f64::NAN,
            },
            Point {
                t: 3000,
                v: f64::NEG_INFINITY,
            },
        ];
        let mut out = String::new();
        write_line(&mut out, &labels, &points);
        assert_eq!(
            out,
            "{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\"},\"values\":[1.5,null,\"-Infinity\"],\
             \"timestamps\":[1000,2000,3000]}\n"
        );
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["timestamps"][2], 3000);
    }
}
