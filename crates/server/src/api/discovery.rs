//! What Strata holds, the Prometheus way: `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and `/api/v1/metadata`.
//!
//! Several `match[]` selectors union their answers. `limit` truncates with Prometheus's
//! warning. Without `start`/`end` the whole stored time range is searched.

use super::json;
use super::limits::Budget;
use super::params::{self, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::response::{ApiError, Success};
use super::QueryApi;
use axum::extract::{Path, State};
use axum::response::Response;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use strata_core::{Labels, Matcher, Querier, StorageError, TimeRange};

const TRUNCATED: &str = "results truncated due to limit";

/// The `start`/`end` range of a discovery request, all of time by default.
pub fn time_range(p: &Params) -> Result<TimeRange, ApiError> {
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    Ok(TimeRange::new(start, end))
}

/// The union of the series matching any of `selectors`, sorted.
pub fn union_series(
    store: &dyn Querier,
    selectors: &[Vec<Matcher>],
    range: TimeRange,
    budget: &Budget,
) -> Result<Vec<Labels>, ApiError> {
    let mut lists = Vec::with_capacity(selectors.len());
    for matchers in selectors {
        budget.check()?;
        lists.push(store.series(matchers, range)?);
    }
    // Comparing encoded bytes orders label sets as their `Ord` does, without
    // checking every string's UTF-8 again.
    Ok(union_sorted(lists, |a, b| {
        a.byte_pairs().cmp(b.byte_pairs())
    }))
}

/// Applies a `limit` (0: none), saying so in the warnings when it cut anything.
fn truncate<T>(items: &mut Vec<T>, limit: usize, warnings: &mut Vec<String>) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push(TRUNCATED.to_owned());
    }
}

pub async fn series(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = series_answer(&api, p).await;
    api.answer("series", started, result)
}

async fn series_answer(api: &QueryApi, p: Params) -> Result<Success, ApiError> {
    let selectors = p.selectors()?;
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let range = time_range(&p)?;
    let limit = p.limit("limit")?;
    let store = api.store.clone();
    let mut found: Vec<Labels> = api
        .run(None, move |b| union_series(&*store, &selectors, range, b))
        .await?;
    let mut warnings = Vec::new();
    truncate(&mut found, limit, &mut warnings);
    let mut data = String::new();
    json::write_list(&mut data, ('[', ']'), &found, json::write_labels);
    Ok(Success::new(data).with_warnings(warnings))
}

pub async fn labels(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = labels_answer(&api, p).await;
    api.answer("labels", started, result)
}

async fn labels_answer(api: &QueryApi, p: Params) -> Result<Success, ApiError> {
    if p.selectors()?.is_empty() {
        let range = time_range(&p)?;
        let names = api
            .run_inline(|_| Ok(api.store.label_names(&[], range)?))
            .await?;
        return Ok(names_success(names, p.limit("limit")?));
    }
    names_answer(api, p, |store, matchers, range| {
        store.label_names(matchers, range)
    })
    .await
}

pub async fn label_values(
    State(api): State<Arc<QueryApi>>,
    Path(name): Path<String>,
    p: Params,
) -> Response {
    let started = Instant::now();
    let result = label_values_answer(&api, name, p).await;
    api.answer("label_values", started, result)
}

async fn label_values_answer(api: &QueryApi, name: String, p: Params) -> Result<Success, ApiError> {
    params::check_label_name(&name)?;
    names_answer(api, p, move |store, matchers, range| {
        store.label_values(&name, matchers, range)
    })
    .await
}

/// The answer of `labels` and `label values`: the sorted union of what `lookup` finds for
/// each `match[]` selector (for all series when none is given), cut to `limit`.
async fn names_answer<F>(api: &QueryApi, p: Params, lookup: F) -> Result<Success, ApiError>
where
    F: Fn(&dyn Querier, &[Matcher], TimeRange) -> Result<Vec<String>, StorageError>
        + Send
        + 'static,
{
    let mut selectors = p.selectors()?;
    let range = time_range(&p)?;
    let limit = p.limit("limit")?;
    if selectors.is_empty() {
        selectors.push(Vec::new());
    }
    let store = api.store.clone();
    let names: Vec<String> = api
        .run(None, move |b| {
            let mut lists = Vec::with_capacity(selectors.len());
            for matchers in &selectors {
                b.check()?;
                lists.push(lookup(&*store, matchers, range)?);
            }
            Ok(union_sorted(lists, Ord::cmp))
        })
        .await?;
    Ok(names_success(names, limit))
}

/// A sorted list of names or values as the answer, cut to `limit`.
fn names_success(mut names: Vec<String>, limit: usize) -> Success {
    let mut warnings = Vec::new();
    truncate(&mut names, limit, &mut warnings);
    // Quotes and commas; escapes are rare in names and values.
    let mut data = String::with_capacity(names.iter().map(|n| n.len() + 3).sum::<usize>() + 2);
    json::write_str_array(&mut data, names.iter().map(String::as_str));
    Success::new(data).with_warnings(warnings)
}

/// The union of lists sorted by `order` without duplicates (the store's answers): the
/// one list itself when there is one, the usual case.
fn union_sorted<T: PartialEq>(
    mut lists: Vec<Vec<T>>,
    mut order: impl FnMut(&T, &T) -> Ordering,
) -> Vec<T> {
    if lists.len() == 1 {
        return lists.pop().unwrap_or_default();
    }
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(&mut order);
    all.dedup();
    all
}

pub async fn metadata(State(api): State<Arc<QueryApi>>, p: Params) -> Response {
    let started = Instant::now();
    let result = metadata_answer(&api, p).await;
    api.answer("metadata", started, result)
}

/// `{"<metric>":[{"type":…,"help":…,"unit":…}],…}`; `limit` caps metrics, `limit_per_metric`
/// entries per metric (Strata keeps one per metric, so only 0 and ≥1 differ).
async fn metadata_answer(api: &QueryApi, p: Params) -> Result<Success, ApiError> {
    let limit = p.limit("limit")?;
    let per_metric = p.limit("limit_per_metric")?;
    let metric = p.get("metric").map(str::to_owned);
    let store = api.store.clone();
    let found = api
        .run(None, move |_| Ok(store.metadata(metric.as_deref())?))
        .await?;
    let mut by_metric: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for m in &found {
        by_metric.entry(m.metric.as_str()).or_default().push(m);
    }
    let unlimited = |n: usize| if n > 0 { n } else { usize::MAX };
    let mut data = String::new();
    let metrics = by_metric.iter().take(unlimited(limit));
    json::write_list(&mut data, ('{', '}'), metrics, |data, (name, entries)| {
        json::write_str(data, name);
        data.push(':');
        let entries = entries.iter().take(unlimited(per_metric));
        json::write_list(data, ('[', ']'), entries, |data, m| {
            data.push_str("{\"type\":");
            json::write_str(data, m.kind.as_str());
            data.push_str(",\"help\":");
            json::write_str(data, &m.help);
            data.push_str(",\"unit\":");
            json::write_str(data, &m.unit);
            data.push('}');
        });
    });
    Ok(Success::new(data))
}
