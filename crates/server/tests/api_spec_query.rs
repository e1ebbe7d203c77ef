//! The spec's query API: `/api/v1/internal/metrics/query` and `/query/batch`.

#[path = "api_util.rs"]
mod util;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;
use util::*;

#[tokio::test]
async fn selector_query_with_counts_statistics_and_cache() {
    let app = app();
    let uri = format!(
        "/api/v1/internal/metrics/query?query={}&start=0&end=1970-01-01T00:01:00Z&aggregation=30s",
        enc(r#"up{job="api"}"#)
    );
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Fields come in the spec's order.
    assert!(
        body.starts_with(r#"{"metrics_query_response":{"query_id":"query_"#),
        "{body}"
    );
    assert!(body.contains(r#""aggregation":"30s","results":[{"metric_name":"up","labels":"#));
    let v = json(&body);
    let r = &v["metrics_query_response"];
    assert!(r["query_id"].as_str().unwrap().starts_with("query_"));
    assert_eq!(
        r["time_range"],
        json!({"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:01:00Z"})
    );
    assert_eq!(r["aggregation"], "30s");
    assert_eq!(r["data_source"], "warm_storage");
    assert_eq!(r["cache_hit"], false);
    assert!(r["execution_time_ms"].is_u64());
    assert_eq!(
        r["results"],
        json!([{
            "metric_name": "up",
            "labels": {"instance": "a:1", "job": "api"},
            "data_points": [
                {"timestamp": "1970-01-01T00:00:00Z", "value": 1.0, "count": 1},
                {"timestamp": "1970-01-01T00:00:30Z", "value": 1.0, "count": 2},
                {"timestamp": "1970-01-01T00:01:00Z", "value": 1.0, "count": 2},
            ],
            "statistics": {"min": 1.0, "max": 1.0, "avg": 1.0, "p50": 1.0, "p95": 1.0, "p99": 1.0},
        }])
    );
    // The range is long closed: the same query is answered from the cache.
    let (_, again) = get(&app, &uri).await;
    let again = json(&again);
    assert_eq!(again["metrics_query_response"]["cache_hit"], true);
    assert_eq!(again["metrics_query_response"]["results"], r["results"]);
}

#[tokio::test]
async fn computed_series_count_zero_and_recent_ranges_are_hot_and_uncached() {
    let app = app();
    let uri = format!(
        "/api/v1/internal/metrics/query?query={}&start=0&end=60&aggregation=1m",
        enc("sum by (job) (http_requests_total)")
    );
    let (_, body) = get(&app, &uri).await;
    let v = json(&body);
    let results = v["metrics_query_response"]["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["metric_name"], "");
    assert_eq!(results[0]["labels"], json!({"job": "api"}));
    assert_eq!(
        results[0]["data_points"][1],
        json!({"timestamp": "1970-01-01T00:01:00Z", "value": 44.0, "count": 0})
    );
    assert_eq!(results[0]["statistics"]["max"], 44.0);

    // Default range: the last hour, which touches data still arriving.
    for _ in 0..2 {
        let (_, body) = get(&app, "/api/v1/internal/metrics/query?query=up").await;
        let r = json(&body)["metrics_query_response"].clone();
        assert_eq!(r["aggregation"], "1m");
        assert_eq!(r["cache_hit"], false);
        assert_eq!(r["data_source"], "warm_storage");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let uri = format!(
        "/api/v1/internal/metrics/query?query=up&start={}&aggregation=15s",
        now - 60
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(
        json(&body)["metrics_query_response"]["data_source"],
        "hot_storage"
    );
}

#[tokio::test]
async fn spec_query_errors() {
    let app = app();
    let cases = [
        "/api/v1/internal/metrics/query?query=up&aggregation=fast",
        "/api/v1/internal/metrics/query?query=up&aggregation=0",
        "/api/v1/internal/metrics/query?query=up{",
        "/api/v1/internal/metrics/query",
        "/api/v1/internal/metrics/query?query=up&start=10&end=5",
        "/api/v1/internal/metrics/query?query=up&start=yesterday",
    ];
    for uri in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(json(&body)["errorType"], "bad_data", "{uri}");
    }
    let (_, body) = get(
        &app,
        "/api/v1/internal/metrics/query?query=up&aggregation=fast",
    )
    .await;
    assert_eq!(
        json(&body)["error"],
        r#"invalid parameter "aggregation": cannot parse "fast" to a valid duration"#
    );
}

async fn post_json(app: &axum::Router, body: &str) -> (StatusCode, String) {
    let req = Request::post("/api/v1/internal/metrics/query/batch")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, req).await
}

#[tokio::test]
async fn batch_answers_each_query() {
    let app = app();
    let batch = json!({"queries": [
        {"id": "ok", "query": "up{job=\"db\"}", "start": "0", "end": "60", "aggregation": "1m"},
        {"id": "broken", "query": "up{"},
        {"query": "up", "start": "1970-01-01T00:00:00Z", "end": "1970-01-01T00:00:30Z", "aggregation": "15s"},
    ]});
    let (status, body) = post_json(&app, &batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(
            r#""results":[{"index":0,"id":"ok","status":"success","metrics_query_response":{"#
        ),
        "{body}"
    );
    let v = json(&body);
    let b = &v["batch_query_response"];
    assert_eq!(
        (
            b["total"].as_u64(),
            b["succeeded"].as_u64(),
            b["failed"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let items = b["results"].as_array().unwrap();
    assert_eq!(items[0]["id"], "ok");
    assert_eq!(items[0]["status"], "success");
    assert_eq!(
        items[0]["metrics_query_response"]["results"][0]["labels"]["job"],
        "db"
    );
    assert_eq!(items[1]["id"], "broken");
    assert_eq!(items[1]["status"], "error");
    assert_eq!(items[1]["errorType"], "bad_data");
    assert_eq!(items[2]["index"], 2);
    assert_eq!(
        items[2]["metrics_query_response"]["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A bare array works too.
    let (status, body) = post_json(&app, r#"[{"query":"1","start":"0","end":"0"}]"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bad_batches_are_rejected_whole() {
    let app = app();
    for body in [
        "",
        "{",
        r#"{"queries":[{"start":"0"}]}"#,
        r#"{"queries":"up"}"#,
    ] {
        let (status, resp) = post_json(&app, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_message(&resp).starts_with("invalid batch: "),
            "{resp}"
        );
    }
    let many: Vec<_> = (0..101).map(|_| json!({"query": "1"})).collect();
    let (status, resp) = post_json(&app, &json!(many).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json(&resp)["error"],
        "a batch holds at most 100 queries, got 101"
    );
}
