//! `/api/v1/export`: raw samples as VictoriaMetrics' JSON lines:
//! `{"metric":{"__name__":"up","job":"a"},"values":[1,0.5],"timestamps":[1700000000000,…]}`.
//!
//! Timestamps are integer milliseconds. Values are JSON numbers; NaN is `null` and the
//! infinities are `"Infinity"`/`"-Infinity"`, as VictoriaMetrics writes them.
//! Staleness markers are not data and are left out. `max_rows_per_line` splits long
//! series over several lines, as VictoriaMetrics does.
//!
//! The answer is streamed in time windows, so an export of any size runs in bounded
//! memory: windows are read until they hold about `export_window_samples` (500,000 by
//! default: a few tens of megabytes of points and text), their series
//! written as lines (one per series, sorted by labels, or more with
//! `max_rows_per_line`) and sent before the next windows are read. A series therefore
//! spans several lines over a long, dense range, which VictoriaMetrics' export also
//! does and every importer of the format accepts; a small export is one line a series.
//! Window widths adapt to the data's density; a stretch without data is skipped by
//! bisecting for the next sample with cheap label-name probes.
//!
//! The request holds one admission slot for the whole stream, and each window waits
//! its turn for an evaluation worker like any query, so a long export shares the
//! workers with queries instead of holding one. Errors found before the first window is
//! written are answered with their status; after that, they can only end the stream
//! early (the client sees a truncated chunked body) and are logged. A client that goes
//! away cancels the window being read.

use super::discovery::time_range;
use super::json;
use super::limits::{Admission, Budget};
use super::params::Params;
use super::response::ApiError;
use super::QueryApi;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use strata_core::{is_stale_nan, Labels, Matcher, Point, Querier, TimeRange};

/// The first window's width; later ones adapt to the samples found.
const FIRST_WINDOW_MS: i64 = 60_000;
/// The most a window widens at once, so that denser data ahead overshoots by little.
const MAX_GROWTH: i64 = 4;

pub async fn export(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = start(&api, p).await;
    api.answer("export", started, result)
}

/// Checks the parameters, admits the request and reads the first window, so that these
/// failures get their own status; the rest of the export streams.
async fn start(api: &Arc<QueryApi>, p: Params) -> Result<Response, ApiError> {
    let selectors = p.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("missing `match[]` query arg"));
    }
    let range = time_range(&p)?;
    let rows_per_line = p.limit("max_rows_per_line")?;
    let timeout = api.timeout(api.config.export_timeout, p.duration("timeout")?);
    let deadline = Instant::now() + timeout;
    let admission = api.admit().await?;
    let mut stream = ExportStream {
        api: api.clone(),
        admission,
        deadline,
        windows: Some(Windows {
            store: api.store.clone(),
            selectors,
            range,
            next: range.start,
            width: FIRST_WINDOW_MS,
            rows_per_line,
            target: api.config.export_window_samples,
        }),
    };
    let first = stream.next_chunk().await?;
    let body = match first {
        None => Body::empty(),
        Some(first) => {
            let rest = futures_util::stream::unfold(stream, |mut s| async move {
                match s.next_chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), s)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(error = %e.message, "export ended early");
                        s.windows = None;
                        Some((Err(std::io::Error::other(e.message)), s))
                    }
                }
            });
            let first = futures_util::stream::once(async { Ok(first) });
            // Fused: a body may be polled again after its end (the gzip encoder does).
            Body::from_stream(first.chain(rest).fuse())
        }
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/stream+json; charset=utf-8"),
    );
    Ok(resp)
}

/// An export in progress: its admission, its deadline and where its windows are.
struct ExportStream {
    api: Arc<QueryApi>,
    admission: Admission,
    deadline: Instant,
    /// `None` once the export ended or failed.
    windows: Option<Windows>,
}

impl ExportStream {
    /// The lines of the next window with data, or `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        let Some(mut windows) = self.windows.take() else {
            return Ok(None);
        };
        let (windows, chunk) = self
            .api
            .run_admitted(&self.admission, self.deadline, move |budget| {
                let chunk = windows.next_chunk(budget)?;
                Ok((windows, chunk))
            })
            .await?;
        if chunk.is_some() {
            self.windows = Some(windows);
        }
        Ok(chunk.map(Bytes::from))
    }
}

/// The time windows of an export, read one at a time on a worker.
struct Windows {
    store: Arc<dyn Querier>,
    selectors: Vec<Vec<Matcher>>,
    range: TimeRange,
    /// The start of the next window; past `range.end` when done.
    next: i64,
    width: i64,
    rows_per_line: usize,
    /// About how many samples to read and write at a time.
    target: usize,
}

impl Windows {
    /// Reads windows until they hold about `target` samples (or the data ends) and
    /// writes their lines, one per series unless `max_rows_per_line` splits it; `None`
    /// at the end. Gathering small windows keeps small exports at one line a series.
    fn next_chunk(&mut self, budget: &Budget) -> Result<Option<String>, ApiError> {
        loop {
            let mut gathered: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
            let mut held = 0;
            while held < self.target && self.next <= self.range.end {
                let window = TimeRange::new(
                    self.next,
                    self.next.saturating_add(self.width - 1).min(self.range.end),
                );
                self.next = window.end.saturating_add(1);
                let series = self.select(window, budget)?;
                let samples: usize = series.values().map(Vec::len).sum();
                self.adapt_width(samples);
                if samples == 0 {
                    self.skip_to_data(budget)?;
                }
                held += samples;
                for (labels, points) in series {
                    gathered.entry(labels).or_default().extend(points);
                }
            }
            if gathered.is_empty() {
                return Ok(None);
            }
            let text = self.write_lines(gathered, budget)?;
            // Only staleness markers: nothing to send yet, but there may be more data.
            if !text.is_empty() {
                return Ok(Some(text));
            }
        }
    }

    /// The union of the selectors' series over `window`, by labels.
    fn select(
        &self,
        window: TimeRange,
        budget: &Budget,
    ) -> Result<BTreeMap<Labels, Vec<Point>>, ApiError> {
        let mut series = BTreeMap::new();
        for matchers in &self.selectors {
            budget.check()?;
            for s in self.store.select(matchers, window)? {
                series.entry(s.labels).or_insert(s.points);
            }
        }
        Ok(series)
    }

    /// Sizes the next window for `target` samples at the density just seen.
    fn adapt_width(&mut self, samples: usize) {
        let target = self.target.max(1) as i64;
        self.width = match samples as i64 {
            // An empty window says nothing of the density: the skip to the next data
            // keeps the width.
            0 => self.width,
            n if n >= target => (self.width.saturating_mul(target) / n).max(1),
            n => self.width.saturating_mul((target / n).min(MAX_GROWTH)),
        };
    }

    /// After an empty window, moves `next` to just before the next sample (within half
    /// a window), or past the end when there is none. Bisects on whether any series
    /// has data in `[next, t]`, which the store answers from its index and chunk bounds.
    fn skip_to_data(&mut self, budget: &Budget) -> Result<(), ApiError> {
        let from = self.next;
        if from > self.range.end || !self.has_data(TimeRange::new(from, self.range.end), budget)? {
            self.next = self.range.end.saturating_add(1);
            return Ok(());
        }
        // No data in [from, lo]; data in [from, hi]. The span may exceed i64.
        let (mut lo, mut hi) = (i128::from(from) - 1, i128::from(self.range.end));
        // Samples almost always lie between 1970 and tomorrow: two probes that rule out
        // the rest of an unbounded range save dozens of halvings, and each probe that
        // overlaps data costs a pass over the matching series.
        if from < 0 && !self.has_data(TimeRange::new(from, -1), budget)? {
            lo = -1;
        }
        let tomorrow = crate::app::now_ms().saturating_add(86_400_000);
        if i128::from(tomorrow) < hi
            && tomorrow > from
            && self.has_data(TimeRange::new(from, tomorrow), budget)?
        {
            hi = i128::from(tomorrow);
        }
        let precision = i128::from((self.width / 2).max(1));
        while hi - lo > precision {
            let mid = lo + (hi - lo) / 2;
            // Both ends lie within [from - 1, range.end], so they fit i64.
            if self.has_data(TimeRange::new(from, mid as i64), budget)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        // The first sample is in (lo, hi], which a window from lo + 1 covers.
        self.next = (lo + 1) as i64;
        Ok(())
    }

    fn has_data(&self, range: TimeRange, budget: &Budget) -> Result<bool, ApiError> {
        for matchers in &self.selectors {
            budget.check()?;
            if !self.store.label_names(matchers, range)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The lines of one window's series, staleness markers left out.
    fn write_lines(
        &self,
        series: BTreeMap<Labels, Vec<Point>>,
        budget: &Budget,
    ) -> Result<String, ApiError> {
        let mut out = String::new();
        for (labels, mut points) in series {
            budget.check()?;
            points.retain(|p| !is_stale_nan(p.v));
            if points.is_empty() {
                continue;
            }
            let per_line = match self.rows_per_line {
                0 => points.len(),
                n => n,
            };
            for part in points.chunks(per_line) {
                write_line(&mut out, &labels, part);
            }
        }
        Ok(out)
    }
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
