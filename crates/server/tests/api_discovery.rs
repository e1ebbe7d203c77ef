//! `/api/v1/series`, `/labels`, `/label/<name>/values`, `/metadata`, in-process, against
//! literal Prometheus bodies.

#[path = "api_util.rs"]
mod util;

use axum::http::StatusCode;
use util::*;

const UP_SERIES: &str = r#"[{"__name__":"up","instance":"a:1","job":"api"},{"__name__":"up","instance":"b:2","job":"db"}]"#;

#[tokio::test]
async fn series_by_one_and_many_selectors() {
    let app = app();
    let (status, body) = get(&app, "/api/v1/series?match[]=up").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, ok(UP_SERIES));

    let uri = format!(
        "/api/v1/series?match[]={}&match[]={}",
        enc(r#"up{job="db"}"#),
        enc(r#"{__name__=~"http_.*",code!="200"}"#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"http_requests_total","code":"500","job":"api"},{"__name__":"up","instance":"b:2","job":"db"}]}"#
    );
}

#[tokio::test]
async fn series_by_form_post_and_overlapping_selectors() {
    let app = app();
    let form = format!("match[]=up&match[]={}", enc(r#"up{job="api"}"#));
    let (status, body) = post_form(&app, "/api/v1/series", &form).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, ok(UP_SERIES));
}

#[tokio::test]
async fn series_limit_warns_and_time_range_filters() {
    let app = app();
    let (_, body) = get(&app, "/api/v1/series?match[]=up&limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","instance":"a:1","job":"api"}],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = get(&app, "/api/v1/series?match[]=up&start=61&end=2000000000").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = get(
        &app,
        "/api/v1/series?match[]=up&start=1970-01-01T00:01:00Z&end=60.000",
    )
    .await;
    assert_eq!(body, ok(UP_SERIES));
}

#[tokio::test]
async fn series_errors_are_bad_data() {
    let app = app();
    let cases = [
        ("/api/v1/series", "no match[] parameter provided".to_owned()),
        (
            &format!("/api/v1/series?match[]={}", enc("up{")) as &str,
            r#"invalid parameter \"match[]\": 1:4: parse error: expected ',' or '}' after a label matcher"#.to_owned(),
        ),
        (
            &format!("/api/v1/series?match[]={}", enc(r#"{job=""}"#)),
            r#"invalid parameter \"match[]\": 1:1: parse error: vector selector must contain at least one non-empty matcher"#.to_owned(),
        ),
        (
            "/api/v1/series?match[]=up&start=abc",
            r#"invalid parameter \"start\": cannot parse \"abc\" to a valid timestamp"#.to_owned(),
        ),
        ("/api/v1/series?match[]=up&start=10&end=5", "end timestamp must not be before start time".to_owned()),
        (
            "/api/v1/series?match[]=up&limit=-1",
            r#"invalid parameter \"limit\": limit must be non-negative"#.to_owned(),
        ),
    ];
    for (uri, msg) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body, bad(&msg), "{uri}");
    }
}

#[tokio::test]
async fn label_names() {
    let app = app();
    let (_, body) = get(&app, "/api/v1/labels").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","instance","job"]}"#
    );
    let (_, body) = post_form(&app, "/api/v1/labels", "match[]=up").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
    let (_, body) = get(&app, "/api/v1/labels?limit=2").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code"],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = get(&app, "/api/v1/labels?start=100").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn label_values() {
    let app = app();
    let (_, body) = get(&app, "/api/v1/label/job/values").await;
    assert_eq!(body, r#"{"status":"success","data":["api","db"]}"#);
    let (_, body) = get(&app, "/api/v1/label/__name__/values").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["http_requests_total","up"]}"#
    );
    let uri = format!(
        "/api/v1/label/code/values?match[]={}",
        enc(r#"http_requests_total{code=~"5.."}"#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(body, r#"{"status":"success","data":["500"]}"#);
    let (_, body) = get(&app, "/api/v1/label/nope/values").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (status, body) = get(&app, "/api/v1/label/1x/values").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"invalid label name: \"1x\""}"#
    );
}

#[tokio::test]
async fn several_selectors_union_their_names_and_values() {
    let app = app();
    let uri = format!(
        "/api/v1/label/job/values?match[]={}&match[]={}&match[]=up",
        enc(r#"up{job="db"}"#),
        enc(r#"http_requests_total{code="500"}"#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(body, r#"{"status":"success","data":["api","db"]}"#);
    let uri = format!(
        "/api/v1/labels?match[]={}&match[]={}",
        enc(r#"up{job="db"}"#),
        enc(r#"http_requests_total{code="500"}"#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","instance","job"]}"#
    );
    let (_, body) = get(&app, &format!("{uri}&limit=3")).await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","code","instance"],"warnings":["results truncated due to limit"]}"#
    );
}

#[tokio::test]
async fn metadata() {
    let app = app();
    let want = r#"{"status":"success","data":{"http_requests_total":[{"type":"counter","help":"Requests served.","unit":""}]}}"#;
    let (_, body) = get(&app, "/api/v1/metadata").await;
    assert_eq!(body, want);
    let (_, body) = get(
        &app,
        "/api/v1/metadata?metric=http_requests_total&limit=1&limit_per_metric=1",
    )
    .await;
    assert_eq!(body, want);
    let (_, body) = get(&app, "/api/v1/metadata?metric=up").await;
    assert_eq!(body, r#"{"status":"success","data":{}}"#);
    let (status, _) = get(&app, "/api/v1/metadata?limit=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn post_body_parameters_win_over_the_url() {
    let app = app();
    let (_, body) = post_form(
        &app,
        "/api/v1/series?match[]=http_requests_total&limit=0",
        "limit=1&match[]=up",
    )
    .await;
    let v = json(&body);
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(v["warnings"][0], "results truncated due to limit");
}
