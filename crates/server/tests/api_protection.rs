//! Query protection: the timeout stops work with 503 `timeout`, the concurrency limit
//! queues then refuses with 503 `unavailable`, and the refusals show in the metrics.

#[path = "api_util.rs"]
mod util;

use axum::http::StatusCode;
use parking_lot::{Condvar, Mutex};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use strata_core::{
    Labels, Matcher, MemStorage, MetricMetadata, Querier, Series, StorageError, TimeRange,
};
use strata_server::api::{router, QueryApi, QueryApiConfig};
use util::*;

/// A store whose reads wait at a gate until the test opens it (or ten seconds pass), and
/// report that they have started.
struct GatedStore {
    inner: Arc<MemStorage>,
    open: Mutex<bool>,
    opened: Condvar,
    entered: Mutex<Option<mpsc::Sender<()>>>,
}

impl GatedStore {
    fn new(entered: mpsc::Sender<()>) -> Arc<Self> {
        Arc::new(GatedStore {
            inner: fixture(),
            open: Mutex::new(false),
            opened: Condvar::new(),
            entered: Mutex::new(Some(entered)),
        })
    }

    fn wait(&self) {
        if let Some(tx) = &*self.entered.lock() {
            tx.send(()).ok();
        }
        let mut open = self.open.lock();
        if !*open {
            self.opened.wait_for(&mut open, Duration::from_secs(10));
        }
    }

    fn release(&self) {
        *self.open.lock() = true;
        self.opened.notify_all();
    }
}

impl Querier for GatedStore {
    fn select(&self, m: &[Matcher], r: TimeRange) -> Result<Vec<Series>, StorageError> {
        self.wait();
        self.inner.select(m, r)
    }
    fn series(&self, m: &[Matcher], r: TimeRange) -> Result<Vec<Labels>, StorageError> {
        self.wait();
        self.inner.series(m, r)
    }
    fn label_names(&self, m: &[Matcher], r: TimeRange) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(m, r)
    }
    fn label_values(
        &self,
        n: &str,
        m: &[Matcher],
        r: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(n, m, r)
    }
    fn metadata(&self, metric: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        self.inner.metadata(metric)
    }
}

#[tokio::test]
async fn timeout_answers_503_and_is_counted() {
    let (tx, _rx) = mpsc::channel();
    let store = GatedStore::new(tx);
    let api = QueryApi::new(
        store.clone(),
        QueryApiConfig {
            timeout: Duration::from_secs(60),
            ..Default::default()
        },
    );
    let app = router(api.clone());
    // The `timeout` parameter shortens the configured 60 s.
    let (status, body) = get(&app, "/api/v1/query?query=up&time=60&timeout=50ms").await;
    store.release();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#
    );
    let (status, _) = get(&app, "/api/v1/series?match[]=up").await;
    assert_eq!(status, StatusCode::OK);
    let mut metrics = String::new();
    api.write_metrics(&mut metrics);
    assert!(
        metrics.contains(r#"strata_query_refusals_total{reason="timeout"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"strata_query_requests_total{endpoint="query",outcome="timeout"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_queues_then_refuses() {
    let (tx, rx) = mpsc::channel();
    let store = GatedStore::new(tx);
    let config = QueryApiConfig {
        max_concurrent: 1,
        queue_timeout: Duration::from_millis(20),
        ..Default::default()
    };
    let api = QueryApi::new(store.clone(), config);
    let app = router(api.clone());
    let first = {
        let app = app.clone();
        tokio::spawn(async move { get(&app, "/api/v1/series?match[]=up").await })
    };
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the first request reached the store");
    let (status, body) = get(&app, "/api/v1/query?query=up&time=60").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let v = json(&body);
    assert_eq!(v["errorType"], "unavailable");
    assert!(
        error_message(&body).contains("METRICS_MAX_CONCURRENT_QUERIES"),
        "{body}"
    );
    store.release();
    let (status, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    // The slot is free again.
    let (status, _) = get(&app, "/api/v1/query?query=up&time=60").await;
    assert_eq!(status, StatusCode::OK);
    let mut metrics = String::new();
    api.write_metrics(&mut metrics);
    assert!(
        metrics.contains(r#"strata_query_refusals_total{reason="concurrency"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn only_closed_ranges_are_cached() {
    let api = QueryApi::new(fixture(), QueryApiConfig::default());
    let app = router(api.clone());
    for _ in 0..2 {
        get(&app, "/api/v1/query_range?query=up&start=0&end=60&step=15").await;
        get(&app, "/api/v1/query?query=up").await;
        get(
            &app,
            &format!("/api/v1/query?query={}&time=60", enc("up @ end()")),
        )
        .await;
    }
    let mut metrics = String::new();
    api.write_metrics(&mut metrics);
    assert!(
        metrics.contains(r#"strata_query_cache_requests_total{result="hit"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"strata_query_cache_requests_total{result="miss"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("strata_query_cache_entries 1\n"),
        "{metrics}"
    );
}

/// A store that fails every read.
struct BrokenStore;

impl Querier for BrokenStore {
    fn select(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<Series>, StorageError> {
        Err(StorageError::Corrupt("chunk 7 checksum mismatch".into()))
    }
    fn series(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<Labels>, StorageError> {
        Err(StorageError::Backpressure {
            what: "index busy".into(),
            retry_after: Duration::from_secs(1),
        })
    }
    fn label_names(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Other("names unavailable".into()))
    }
    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Other("values unavailable".into()))
    }
    fn metadata(&self, _: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        Err(StorageError::Other("metadata unavailable".into()))
    }
}

#[tokio::test]
async fn storage_failures_are_reported_not_hidden() {
    let app = router(QueryApi::new(
        Arc::new(BrokenStore),
        QueryApiConfig::default(),
    ));
    let (status, body) = get(&app, "/api/v1/query?query=up&time=1").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let v = json(&body);
    assert_eq!(v["errorType"], "internal");
    assert!(
        error_message(&body).contains("chunk 7 checksum mismatch"),
        "{body}"
    );
    let (status, body) = get(&app, "/api/v1/export?match[]=up").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (status, body) = get(&app, "/api/v1/series?match[]=up").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(json(&body)["errorType"], "unavailable");
    for uri in [
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/metadata",
    ] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}: {body}");
    }
}
