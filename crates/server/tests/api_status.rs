//! The status endpoints Grafana probes, and the read APIs' own metrics.

#[path = "api_util.rs"]
mod util;

use axum::http::StatusCode;
use util::*;

#[tokio::test]
async fn grafana_probes_answer_in_prometheus_shapes() {
    let app = app();
    let (status, body) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["version"], "3.0.0");
    for key in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][key].is_string(), "{key} in {body}");
    }
    let (_, body) = get(&app, "/api/v1/status/runtimeinfo").await;
    let v = json(&body);
    assert_eq!(v["data"]["storageRetention"], "90d");
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    let (_, body) = get(&app, "/api/v1/status/config").await;
    assert!(json(&body)["data"]["yaml"]
        .as_str()
        .unwrap()
        .starts_with("global:\n"));
    let exact = [
        (
            "/api/v1/query_exemplars?query=up",
            r#"{"status":"success","data":[]}"#,
        ),
        (
            "/api/v1/rules",
            r#"{"status":"success","data":{"groups":[]}}"#,
        ),
        (
            "/api/v1/alerts",
            r#"{"status":"success","data":{"alerts":[]}}"#,
        ),
    ];
    for (uri, want) in exact {
        assert_eq!(
            get(&app, uri).await,
            (StatusCode::OK, want.to_owned()),
            "{uri}"
        );
    }
}
