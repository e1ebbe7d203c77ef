//! `/api/v1/export` (VictoriaMetrics JSON lines) and the spec's internal discovery API.

#[path = "api_util.rs"]
mod util;

use axum::http::StatusCode;
use strata_core::STALE_NAN;
use strata_server::api::QueryApiConfig;
use util::*;

#[tokio::test]
async fn export_json_lines() {
    let app = app();
    let uri = format!("/api/v1/export?match[]={}", enc(r#"up{job="api"}"#));
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        "{\"metric\":{\"__name__\":\"up\",\"instance\":\"a:1\",\"job\":\"api\"},\"values\":[1,1,1,1,1],\
         \"timestamps\":[0,15000,30000,45000,60000]}\n"
    );
    let (_, body) = get(&app, "/api/v1/export?match[]=up&match[]=up&start=15&end=30").await;
    let lines: Vec<_> = body.lines().map(json).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["metric"]["job"], "db");
    assert_eq!(lines[1]["timestamps"], serde_json::json!([15000, 30000]));
    assert_eq!(lines[1]["values"], serde_json::json!([0, 0]));
}

#[tokio::test]
async fn export_specials_splits_and_skips_stale_markers() {
    let rows: Vec<Row> = vec![
        (&[("__name__", "x")], 1, f64::NAN),
        (&[("__name__", "x")], 2, f64::INFINITY),
        (&[("__name__", "x")], 3, STALE_NAN),
        (&[("__name__", "x")], 4, -0.25),
    ];
    let app = app_with(store(&rows), QueryApiConfig::default());
    let (_, body) = get(&app, "/api/v1/export?match[]=x&max_rows_per_line=2").await;
    assert_eq!(
        body,
        "{\"metric\":{\"__name__\":\"x\"},\"values\":[null,\"Infinity\"],\"timestamps\":[1,2]}\n\
         {\"metric\":{\"__name__\":\"x\"},\"values\":[-0.25],\"timestamps\":[4]}\n"
    );
}

#[tokio::test]
async fn export_errors() {
    let app = app();
    let (status, body) = get(&app, "/api/v1/export").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"missing `match[]` query arg"}"#
    );
    for bad in [
        "match[]=up&end=-1&start=5",
        "match[]=up{",
        "match[]=up&start=yesterday",
        "match[]=up&max_rows_per_line=-2",
        "match[]=up&timeout=soon",
    ] {
        let (status, body) = get(&app, &format!("/api/v1/export?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(json(&body)["errorType"], "bad_data", "{bad}");
    }
    // Nothing matches: an empty answer, not an error.
    let (status, body) = get(&app, "/api/v1/export?match[]=absent").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
}

#[tokio::test]
async fn internal_labels() {
    let app = app();
    let (status, body) = get(&app, "/api/v1/internal/metrics/labels?metric=up").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"metric_name":"up","time_range":{"start":null,"end":null},"labels":{"instance":["a:1","b:2"],"job":["api","db"]},"truncated":false}"#
    );
    let uri = format!(
        "/api/v1/internal/metrics/labels?filter={}&start=0&end=1970-01-01T00:01:00Z",
        enc(r#"code=~"5.*""#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(
        body,
        r#"{"metric_name":null,"time_range":{"start":"1970-01-01T00:00:00Z","end":"1970-01-01T00:01:00Z"},"labels":{"__name__":["http_requests_total"],"code":["500"],"job":["api"]},"truncated":false}"#
    );
    let (_, body) = get(&app, "/api/v1/internal/metrics/labels?limit=1").await;
    let v = json(&body);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["labels"]["job"], serde_json::json!(["api"]));
    assert_eq!(v["labels"]["code"], serde_json::json!(["200"]));
    let (status, body) = get(&app, "/api/v1/internal/metrics/labels?filter=job").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"invalid parameter \"filter\""#), "{body}");
    let (status, _) = get(&app, "/api/v1/internal/metrics/labels?metric=a-b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn internal_series() {
    let app = app();
    let uri = format!(
        "/api/v1/internal/metrics/series?filter={}&limit=2",
        enc(r#"job="api""#)
    );
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"time_range":{"start":null,"end":null},"count":2,"truncated":true,"series":[{"metric_name":"http_requests_total","labels":{"code":"200","job":"api"}},{"metric_name":"http_requests_total","labels":{"code":"500","job":"api"}}]}"#
    );
    let (_, body) = get(
        &app,
        "/api/v1/internal/metrics/series?metric=up&filter=instance%3D%22b%3A2%22",
    )
    .await;
    let v = json(&body);
    assert_eq!(v["count"], 1);
    assert_eq!(v["truncated"], false);
    assert_eq!(v["series"][0]["labels"]["job"], "db");
}
