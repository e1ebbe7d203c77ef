//! Shared helpers of the read-API tests: a small store and in-process requests to the
//! router (no server, no sockets). Included by each `api_*` test file with `#[path]`.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use std::sync::Arc;
use strata_core::{Appender, Labels, MemStorage, MetricMetadata, MetricType, Sample, WriteBatch};
use strata_server::api::{router, QueryApi, QueryApiConfig};
use tower::ServiceExt;

/// `(labels, t_ms, value)` rows; the first label pair may be `("__name__", …)`.
pub type Row<'a> = (&'a [(&'a str, &'a str)], i64, f64);

pub fn store(rows: &[Row]) -> Arc<MemStorage> {
    let store = Arc::new(MemStorage::new());
    let samples = rows
        .iter()
        .map(|(labels, t, v)| Sample {
            labels: Labels::new(labels.iter().copied()).unwrap(),
            t: *t,
            v: *v,
        })
        .collect();
    let metadata = vec![MetricMetadata {
        metric: "http_requests_total".into(),
        kind: MetricType::Counter,
        help: "Requests served.".into(),
        unit: String::new(),
    }];
    store.append(&WriteBatch { samples, metadata }).unwrap();
    store
}

/// A store holding `samples`, without metadata.
pub fn store_of_samples(samples: Vec<Sample>) -> Arc<MemStorage> {
    let store = Arc::new(MemStorage::new());
    store
        .append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .unwrap();
    store
}

/// A few series of two metrics, samples every 15 s from t = 0 to 60 s.
pub fn fixture() -> Arc<MemStorage> {
    let mut rows: Vec<Row> = Vec::new();
    for i in 0..5 {
        let t = i * 15_000;
        rows.push((
            &[("__name__", "up"), ("job", "api"), ("instance", "a:1")],
            t,
            1.0,
        ));
        rows.push((
            &[("__name__", "up"), ("job", "db"), ("instance", "b:2")],
            t,
            0.0,
        ));
        rows.push((
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            t,
            (i * 10) as f64,
        ));
        rows.push((
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "500"),
            ],
            t,
            i as f64,
        ));
    }
    store(&rows)
}

pub fn app_with(store: Arc<MemStorage>, config: QueryApiConfig) -> Router {
    router(QueryApi::new(store, config))
}

pub fn app() -> Router {
    app_with(fixture(), QueryApiConfig::default())
}

pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

pub async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post_form(app: &Router, uri: &str, form: &str) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(app, req).await
}

/// Percent-encodes a query-string value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A success body with `data`.
pub fn ok(data: &str) -> String {
    format!(r#"{{"status":"success","data":{data}}}"#)
}

/// A `bad_data` error body with `msg` (already JSON-escaped).
pub fn bad(msg: &str) -> String {
    format!(r#"{{"status":"error","errorType":"bad_data","error":"{msg}"}}"#)
}

/// Parses a JSON body, panicking with the body on failure.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The `error` message of an error body, panicking with the body when there is none.
pub fn error_message(body: &str) -> String {
    match &json(body)["error"] {
        serde_json::Value::String(msg) => msg.clone(),
        _ => panic!("no error message: {body}"),
    }
}
