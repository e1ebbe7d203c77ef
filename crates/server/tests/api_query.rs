//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`, in-process, against
//! literal Prometheus bodies.

#[path = "api_util.rs"]
mod util;

use axum::http::StatusCode;
use strata_server::api::QueryApiConfig;
use util::*;

#[tokio::test]
async fn instant_vector_and_matrix() {
    let app = app();
    let uri = format!("/api/v1/query?query={}&time=60", enc(r#"up{job="api"}"#));
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        ok(
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"a:1","job":"api"},"value":[60,"1"]}]}"#
        )
    );
    let uri = format!(
        "/api/v1/query?query={}&time=1970-01-01T00:01:00Z",
        enc(r#"up{job="api"}[30s]"#)
    );
    let (_, body) = get(&app, &uri).await;
    assert_eq!(
        body,
        ok(
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"a:1","job":"api"},"values":[[45,"1"],[60,"1"]]}]}"#
        )
    );
    let uri = format!(
        "/api/v1/query?query={}&time=30.25",
        enc("sum by (job) (up)")
    );
    let (_, body) = get(&app, &uri).await;
    let v = json(&body);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"]["result"][0]["value"][0], 30.25);
}

#[tokio::test]
async fn scalars_strings_and_special_values() {
    let app = app();
    let cases = [
        (
            "1.5",
            "1.5",
            r#"{"resultType":"scalar","result":[1.500,"1.5"]}"#,
        ),
        ("NaN", "2", r#"{"resultType":"scalar","result":[2,"NaN"]}"#),
        ("1/0", "2", r#"{"resultType":"scalar","result":[2,"+Inf"]}"#),
        (
            "-1/0",
            "2",
            r#"{"resultType":"scalar","result":[2,"-Inf"]}"#,
        ),
        (
            "0.1+0.2",
            "0.001",
            r#"{"resultType":"scalar","result":[0.001,"0.30000000000000004"]}"#,
        ),
        (
            "\"a<b\"",
            "3",
            r#"{"resultType":"string","result":[3,"a\u003cb"]}"#,
        ),
    ];
    for (expr, time, want) in cases {
        let (status, body) = get(
            &app,
            &format!("/api/v1/query?query={}&time={time}", enc(expr)),
        )
        .await;
        assert_eq!((status, body), (StatusCode::OK, ok(want)), "{expr}");
    }
}

#[tokio::test]
async fn range_queries_by_get_and_post() {
    let app = app();
    let want = ok(
        r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"b:2","job":"db"},"values":[[0,"0"],[30,"0"],[60,"0"]]}]}"#,
    );
    let q = enc(r#"up{job="db"}"#);
    let (status, body) = get(
        &app,
        &format!("/api/v1/query_range?query={q}&start=0&end=60&step=30"),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, want.clone()));
    let form = format!("query={q}&start=1970-01-01T00:00:00Z&end=60&step=30s");
    let (_, body) = post_form(&app, "/api/v1/query_range", &form).await;
    assert_eq!(body, want);
    let uri = format!(
        "/api/v1/query_range?query={}&start=30&end=60&step=15",
        enc("rate(http_requests_total[1m])")
    );
    let (_, body) = get(&app, &uri).await;
    let v = json(&body);
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert!(series[0]["metric"].get("__name__").is_none(), "{body}");
}

#[tokio::test]
async fn limit_truncates_with_a_warning() {
    let app = app();
    let (_, body) = get(&app, "/api/v1/query?query=up&time=60&limit=1").await;
    let v = json(&body);
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
}

#[tokio::test]
async fn parameter_errors_are_bad_data() {
    let app = app();
    let cases = [
        ("/api/v1/query?query=up&time=x", bad(r#"invalid parameter \"time\": cannot parse \"x\" to a valid timestamp"#)),
        ("/api/v1/query?query=up&timeout=x", bad(r#"invalid parameter \"timeout\": cannot parse \"x\" to a valid duration"#)),
        ("/api/v1/query_range?query=up&end=1&step=1", bad(r#"invalid parameter \"start\": cannot parse \"\" to a valid timestamp"#)),
        ("/api/v1/query_range?query=up&start=1&step=1", bad(r#"invalid parameter \"end\": cannot parse \"\" to a valid timestamp"#)),
        ("/api/v1/query_range?query=up&start=1&end=2", bad(r#"invalid parameter \"step\": cannot parse \"\" to a valid duration"#)),
        ("/api/v1/query_range?query=up&start=2&end=1&step=1", bad("end timestamp must not be before start time")),
        (
            "/api/v1/query_range?query=up&start=1&end=2&step=0",
            bad("zero or negative query resolution step widths are not accepted. Try a positive integer"),
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=11001&step=1",
            bad("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
        ),
    ];
    for (uri, want) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, want), "{uri}");
    }
    for uri in [
        "/api/v1/query",
        "/api/v1/query?query=sum(",
        "/api/v1/query_range?query=up{&start=0&end=1&step=1",
    ] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let v = json(&body);
        assert_eq!(v["errorType"], "bad_data");
        assert!(
            error_message(&body).starts_with("invalid parameter \"query\": "),
            "{body}"
        );
    }
    let (_, body) = get(
        &app,
        "/api/v1/query_range?query=up&start=0&end=11000&step=1",
    )
    .await;
    assert_eq!(json(&body)["status"], "success");
}

#[tokio::test]
async fn execution_errors_and_limits_are_422() {
    let app = app();
    let uri = format!(
        "/api/v1/query?query={}&time=60",
        enc("http_requests_total + on(job) up")
    );
    let (status, body) = get(&app, &uri).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(json(&body)["errorType"], "execution");

    let app = app_with(
        fixture(),
        QueryApiConfig {
            max_series: 1,
            ..Default::default()
        },
    );
    let (status, body) = get(&app, "/api/v1/query?query=up&time=60").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(json(&body)["errorType"], "execution");
    let app = app_with(
        fixture(),
        QueryApiConfig {
            max_samples: 3,
            ..Default::default()
        },
    );
    let (status, body) = get(&app, "/api/v1/query_range?query=up&start=0&end=60&step=15").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn format_query_pretty_prints() {
    let app = app();
    let (status, body) = get(
        &app,
        &format!("/api/v1/format_query?query={}", enc("sum(up)by(job)")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, ok(r#""sum by (job) (up)""#));
    let (status, body) = post_form(&app, "/api/v1/format_query", "query=up%7B").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).starts_with("invalid parameter \"query\": "));
}

#[tokio::test]
async fn stats_add_timings_and_samples_to_data() {
    let app = app_with(
        fixture(),
        QueryApiConfig {
            cache_ttl: std::time::Duration::ZERO,
            ..Default::default()
        },
    );
    let query = enc(r#"up{job="api"}[30s]"#);
    let (_, plain) = get(&app, &format!("/api/v1/query?query={query}&time=60")).await;
    let (_, empty) = get(&app, &format!("/api/v1/query?query={query}&time=60&stats=")).await;
    assert_eq!(
        empty, plain,
        "an empty `stats` adds nothing, as in Prometheus"
    );
    assert!(!plain.contains("stats"));

    let (status, body) = get(
        &app,
        &format!("/api/v1/query?query={query}&time=60&stats=all"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut v = json(&body);
    let stats = v["data"].as_object_mut().unwrap().remove("stats").unwrap();
    assert_eq!(v, json(&plain), "the result is unchanged");
    // Prometheus's key order (serde_json's maps sort, so read it from the text).
    let order = [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
        "totalQueryableSamples",
        "samplesRead",
        "peakSamples",
    ];
    let at: Vec<usize> = order.iter().map(|k| body.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{body}");
    let timings = stats["timings"].as_object().unwrap();
    assert_eq!(timings.len(), 6);
    let total = timings["execTotalTime"].as_f64().unwrap();
    for (key, t) in timings {
        let t = t.as_f64().unwrap();
        assert!((0.0..=total).contains(&t), "{key} {t} of {total}");
    }
    assert!(timings["evalTotalTime"].as_f64().unwrap() > 0.0);
    // The two points of (30 s, 60 s] of one series.
    assert_eq!(
        stats["samples"],
        serde_json::json!({"totalQueryableSamples": 2, "samplesRead": 2, "peakSamples": 2})
    );

    let uri = format!(
        "/api/v1/query_range?query={}&start=0&end=60&step=15&stats=all",
        enc("sum(up)")
    );
    let (_, body) = get(&app, &uri).await;
    let v = json(&body);
    assert_eq!(v["data"]["resultType"], "matrix");
    // Two series of five points each, read once; the result is five points.
    assert_eq!(v["data"]["stats"]["samples"]["samplesRead"], 10);
    assert_eq!(v["data"]["stats"]["samples"]["peakSamples"], 10);
}

#[tokio::test]
async fn stats_of_a_cached_answer_count_no_evaluation() {
    let app = app();
    let uri = format!("/api/v1/query?query={}&time=60&stats=all", enc("sum(up)"));
    let (_, first) = get(&app, &uri).await;
    let (_, second) = get(&app, &uri).await;
    let (first, second) = (json(&first), json(&second));
    assert_eq!(first["data"]["result"], second["data"]["result"]);
    assert!(
        first["data"]["stats"]["samples"]["samplesRead"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        second["data"]["stats"]["samples"],
        serde_json::json!({"totalQueryableSamples": 0, "samplesRead": 0, "peakSamples": 0})
    );
    assert_eq!(second["data"]["stats"]["timings"]["evalTotalTime"], 0);
}
