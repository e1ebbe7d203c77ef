//! Running PromQL for both query APIs: the engine on a blocking thread under the limits,
//! with the result cache in front, and the engine's errors mapped to the API's.

use super::cache::{ResultCache, Weigh};
use super::limits::Budget;
use super::response::{ApiError, ErrorType};
use super::stats::Timings;
use super::QueryApi;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_promql::{ErrorKind, QueryContext, QueryError, QueryOutput, Value};

/// A query's answer and what it cost this request.
pub struct Evaluation {
    pub output: Arc<QueryOutput>,
    /// Whether the answer came from the result cache.
    pub cached: bool,
    pub timings: Timings,
}

/// When a query is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryTime {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

impl QueryTime {
    /// The latest instant the query evaluates at.
    pub fn end(self) -> i64 {
        match self {
            QueryTime::Instant(t) => t,
            QueryTime::Range { end, .. } => end,
        }
    }

    fn cache_key(self, expr: &str) -> String {
        match self {
            QueryTime::Instant(t) => format!("i/{t}/{expr}"),
            QueryTime::Range { start, end, step } => format!("r/{start}/{end}/{step}/{expr}"),
        }
    }
}

impl Weigh for QueryOutput {
    fn weight(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } | Value::String { .. } => 1,
            Value::Vector(v) => v.len(),
            Value::Matrix(m) => m.iter().map(|s| s.points.len() + 1).sum(),
        }
    }
}

/// Whether an expression reads no data after its evaluation time: no `@` modifier (which
/// may point anywhere, `end()` included) and no negative `offset` (which reads ahead).
/// Textual and conservative: an `@` inside a label value also disables caching.
pub fn reads_only_up_to_eval_time(expr: &str) -> bool {
    if expr.contains('@') {
        return false;
    }
    let lower = expr.to_ascii_lowercase();
    !lower
        .match_indices("offset")
        .any(|(i, w)| lower[i + w.len()..].trim_start().starts_with('-'))
}

/// The API error of an engine error, noting refusals by a limit in the metrics (unless the
/// request was already abandoned, and counted, by the limiter).
pub fn api_error(api: &QueryApi, e: QueryError, budget: &Budget) -> ApiError {
    if budget.cancel.load(Ordering::Relaxed) {
        return ApiError::new(ErrorType::Canceled, e.message);
    }
    let kind = match e.kind {
        ErrorKind::BadData => ErrorType::BadData,
        ErrorKind::Execution => ErrorType::Execution,
        ErrorKind::TooManySamples => {
            api.metrics.refused("max_samples");
            ErrorType::Execution
        }
        ErrorKind::TooManySeries => {
            api.metrics.refused("max_series");
            ErrorType::Execution
        }
        ErrorKind::Timeout => {
            api.metrics.refused("timeout");
            ErrorType::Timeout
        }
        ErrorKind::Canceled => ErrorType::Canceled,
        ErrorKind::Internal => ErrorType::Internal,
    };
    ApiError::new(kind, e.message)
}

impl QueryApi {
    /// Runs `work` for `expr` at `when`, or answers from `cache` when the same query over a
    /// closed range ran within the TTL. Returns the value and whether it came from the cache.
    pub(super) async fn cached<V, F>(
        &self,
        cache: &ResultCache<V>,
        expr: &str,
        when: QueryTime,
        timeout: Option<i64>,
        work: F,
    ) -> Result<(Arc<V>, bool), ApiError>
    where
        V: Weigh + Send + Sync + 'static,
        F: FnOnce(&Budget) -> Result<V, ApiError> + Send + 'static,
    {
        let key = (cache.cacheable(when.end(), self.now_ms()) && reads_only_up_to_eval_time(expr))
            .then(|| when.cache_key(expr));
        if let Some(key) = &key {
            let hit = cache.get(key);
            self.metrics.cache_lookup(hit.is_some());
            if let Some(v) = hit {
                return Ok((v, true));
            }
        }
        let value = Arc::new(self.run(timeout, work).await?);
        if let Some(key) = key {
            cache.insert(key, value.clone());
        }
        Ok((value, false))
    }

    /// Evaluates `expr` with the engine, through the result cache, timing each part.
    pub(super) async fn query(
        self: &Arc<Self>,
        expr: &str,
        when: QueryTime,
        timeout: Option<i64>,
    ) -> Result<Evaluation, ApiError> {
        let requested = Instant::now();
        strata_promql::parse_check(expr).map_err(|e| {
            ApiError::bad_data(format!("invalid parameter \"query\": {}", e.message))
        })?;
        let prepared = Instant::now();
        let api = self.clone();
        let text = expr.to_owned();
        // When the work began on its worker and how long it ran; unset on a cache hit.
        let ran = Arc::new(Mutex::new(None::<(Instant, Duration)>));
        let record = ran.clone();
        let (output, cached) = self
            .cached(&self.query_cache, expr, when, timeout, move |budget| {
                let began = Instant::now();
                let out = api.evaluate(&text, when, budget);
                *record.lock() = Some((began, began.elapsed()));
                out
            })
            .await?;
        let (queue, eval) = ran
            .lock()
            .map_or((Duration::ZERO, Duration::ZERO), |(began, eval)| {
                (began.saturating_duration_since(prepared), eval)
            });
        Ok(Evaluation {
            output,
            cached,
            timings: Timings {
                preparation: prepared - requested,
                queue,
                eval,
                total: requested.elapsed(),
            },
        })
    }

    /// Evaluates on the current (blocking) thread.
    pub(super) fn evaluate(
        &self,
        expr: &str,
        when: QueryTime,
        budget: &Budget,
    ) -> Result<QueryOutput, ApiError> {
        let ctx = QueryContext {
            deadline: Some(budget.deadline),
            cancel: Some(budget.cancel.clone()),
        };
        let store = &*self.store;
        let out = match when {
            QueryTime::Instant(t) => self.engine.instant(store, expr, t, &ctx),
            QueryTime::Range { start, end, step } => {
                self.engine.range(store, expr, start, end, step, &ctx)
            }
        };
        out.map_err(|e| api_error(self, e, budget))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_and_negative_offsets_are_not_cacheable() {
        assert!(reads_only_up_to_eval_time("rate(x[5m] offset 1h)"));
        assert!(reads_only_up_to_eval_time("offset_total"));
        assert!(!reads_only_up_to_eval_time("x @ end()"));
        assert!(!reads_only_up_to_eval_time("x offset -5m"));
        assert!(!reads_only_up_to_eval_time("x OFFSET  -5m"));
    }
}
