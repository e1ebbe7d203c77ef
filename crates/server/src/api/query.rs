//! Running PromQL for both query APIs: the engine on a blocking thread under the limits,
//! with the result cache in front, and the engine's errors mapped to the API's.

use super::cache::ResultCache;
use super::response::{ApiError, ErrorType};
use super::QueryApi;
use std::sync::Arc;
use strata_promql::{ErrorKind, QueryContext, QueryError, QueryOutput};

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

/// The API error of an engine error, noting refusals by a limit in the metrics.
pub fn api_error(api: &QueryApi, e: QueryError) -> ApiError {
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
        V: Send + Sync + 'static,
        F: FnOnce(&super::limits::Budget) -> Result<V, ApiError> + Send + 'static,
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

    /// Evaluates `expr` with the engine, through the result cache.
    pub(super) async fn query(
        self: &Arc<Self>,
        expr: &str,
        when: QueryTime,
        timeout: Option<i64>,
    ) -> Result<(Arc<QueryOutput>, bool), ApiError> {
        strata_promql::parse_check(expr).map_err(|e| {
            ApiError::bad_data(format!("invalid parameter \"query\": {}", e.message))
        })?;
        let api = self.clone();
        let text = expr.to_owned();
        self.cached(&self.query_cache, expr, when, timeout, move |budget| {
            api.evaluate(&text, when, budget)
        })
        .await
    }

    /// Evaluates on the current (blocking) thread.
    pub(super) fn evaluate(
        &self,
        expr: &str,
        when: QueryTime,
        budget: &super::limits::Budget,
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
        out.map_err(|e| api_error(self, e))
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
