//! End-to-end tests of the HTTP ingest endpoints against the real binary: the spec's
//! "Data Inputs" payloads, the shared data files, encodings, and every kind of bad input.

mod common;

use common::{fixture, shared_data, StrataProcess};
use serde_json::json;
use std::io::Write;

const PROMETHEUS: &str = "/api/v1/internal/metrics/prometheus";
const IMPORT: &str = "/api/v1/import/prometheus";
const CUSTOM: &str = "/api/v1/internal/metrics/custom";
const EVENTS: &str = "/api/v1/internal/metrics/events";
const JSON: (&str, &str) = ("content-type", "application/json");

/// The spec's payloads carry 2024-2025 timestamps, older than the default 90-day
/// retention: these servers keep everything.
fn keeping_everything(args: &[&str]) -> StrataProcess {
    let mut all = vec!["--warm-storage-retention", "0"];
    all.extend_from_slice(args);
    StrataProcess::start(&all)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn spec_prometheus_payload_is_stored_exactly() {
    let strata = keeping_everything(&[]);
    let answer = strata.post(PROMETHEUS, &[], fixture("spec_prometheus.txt"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "success");
    assert_eq!(answer.json["samples_accepted"], 8);
    assert_eq!(answer.json["series_accepted"], 8);
    assert_eq!(answer.json["new_series"], 8);
    assert_eq!(answer.json["metadata_accepted"], 3);
    assert_eq!(answer.json["rejected"], 0);
    assert_eq!(answer.json["errors"], json!([]));

    let series = strata.export("http_requests_total");
    assert_eq!(series.len(), 1);
    let (labels, points) = &series[0];
    assert_eq!(
        labels,
        &json!({"__name__": "http_requests_total", "service": "ml-inference",
                "endpoint": "/predict", "method": "POST", "status": "200"})
    );
    assert_eq!(points, &[(1722076800000, 1247.0)]);
    let sum = strata.export("http_request_duration_seconds_sum");
    assert_eq!(sum[0].1, [(1722076800000, 23.456)]);
    assert_eq!(
        strata
            .export(r#"{__name__="http_request_duration_seconds_bucket"}"#)
            .len(),
        4
    );
}

#[test]
fn import_path_and_samples_without_timestamp() {
    let strata = keeping_everything(&[]);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let answer = strata.post(IMPORT, &[], "no_timestamp{job=\"x\"} 42\n");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["samples_accepted"], 1);
    let series = strata.export("no_timestamp");
    let (t, v) = series[0].1[0];
    assert_eq!(v, 42.0);
    assert!(
        t >= before && t <= before + 60_000,
        "receipt time {t} vs {before}"
    );
}

#[test]
fn shared_data_files_ingest_without_error() {
    let strata = keeping_everything(&[]);
    for (file, content_type) in [
        ("alltypes.237mfs.prom.txt", "text/plain; version=0.0.4"),
        (
            "alltypes.5mfs.om.txt",
            "application/openmetrics-text; version=1.0.0",
        ),
    ] {
        let answer = strata.post(
            PROMETHEUS,
            &[("content-type", content_type)],
            shared_data(file),
        );
        assert_eq!(answer.status, 200, "{file}: {}", answer.text);
        assert_eq!(answer.json["rejected"], 0, "{file}");
        assert!(
            answer.json["samples_accepted"].as_u64().unwrap() > 0,
            "{file}"
        );
    }
    // OpenMetrics is also recognised by its `# EOF` without a Content-Type.
    let answer = strata.post(PROMETHEUS, &[], shared_data("alltypes.5mfs.om.txt"));
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[test]
fn syntax_error_rejects_the_whole_body_with_line_and_column() {
    let strata = keeping_everything(&[]);
    let body = "good_metric 1 1000\nbad_metric{job=\"x\" 2 1000\n";
    let answer = strata.post(PROMETHEUS, &[], body);
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json["status"], "error");
    assert_eq!(answer.json["errorType"], "bad_data");
    assert_eq!(answer.json["samples_accepted"], 0);
    let error = &answer.json["errors"][0];
    assert_eq!(error["line"], 2, "{}", answer.text);
    assert!(error["column"].as_u64().unwrap() > 0);
    assert!(!error["reason"].as_str().unwrap().is_empty());
    assert!(answer.json["error"].as_str().unwrap().contains("line 2"));
    assert!(strata.export("good_metric").is_empty(), "nothing stored");
}

#[test]
fn content_encodings() {
    let strata = keeping_everything(&[]);
    let text = fixture("spec_prometheus.txt");
    let zstd = zstd::encode_all(&text[..], 3).unwrap();
    let snappy_framed = {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(&text).unwrap();
        w.into_inner().unwrap()
    };
    let snappy_raw = snap::raw::Encoder::new().compress_vec(&text).unwrap();
    for (encoding, body) in [
        ("gzip", gzip(&text)),
        ("zstd", zstd),
        ("snappy", snappy_framed),
        ("snappy", snappy_raw),
        ("identity", text.clone()),
    ] {
        let answer = strata.post(PROMETHEUS, &[("content-encoding", encoding)], body);
        assert_eq!(answer.status, 200, "{encoding}: {}", answer.text);
        assert_eq!(answer.json["samples_accepted"], 8, "{encoding}");
    }

    let answer = strata.post(PROMETHEUS, &[("content-encoding", "br")], text.clone());
    assert_eq!(answer.status, 415, "{}", answer.text);
    assert!(answer.json["error"].as_str().unwrap().contains("br"));

    let answer = strata.post(
        PROMETHEUS,
        &[("content-encoding", "gzip")],
        b"definitely not gzip".to_vec(),
    );
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json["status"], "error");

    let answer = strata.post(
        PROMETHEUS,
        &[("content-type", "application/x-protobuf")],
        text,
    );
    assert_eq!(answer.status, 415, "{}", answer.text);
}

#[test]
fn bodies_over_the_limit_get_413_raw_and_decoded() {
    let strata = keeping_everything(&["--max-body-size", "1KiB"]);
    let line = "big_metric{job=\"padding\"} 1 1000\n";
    let big = line.repeat(2048 / line.len() + 1);
    let answer = strata.post(PROMETHEUS, &[], big.clone());
    assert_eq!(answer.status, 413, "{}", answer.text);
    assert!(answer.json["error"]
        .as_str()
        .unwrap()
        .contains("METRICS_MAX_BODY_SIZE"));

    // Compressed under the limit, decoded over it: a zip bomb is refused too.
    let bomb = gzip(big.repeat(50).as_bytes());
    assert!(bomb.len() < 1024, "the compressed body is small");
    let answer = strata.post(PROMETHEUS, &[("content-encoding", "gzip")], bomb);
    assert_eq!(answer.status, 413, "{}", answer.text);

    let answer = strata.post(PROMETHEUS, &[], line);
    assert_eq!(answer.status, 200, "a small body still passes");
}

#[test]
fn spec_custom_payload() {
    let strata = keeping_everything(&[]);
    let answer = strata.post(CUSTOM, &[JSON], fixture("spec_custom.json"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "success");
    // counter 1 + histogram (6 buckets, _sum, _count) 8 + gauge 1
    assert_eq!(answer.json["samples_accepted"], 10, "{}", answer.text);
    let ts = 1753525800000; // 2025-07-26T10:30:00Z
    let counter = strata.export("predictions_generated_total");
    assert_eq!(counter.len(), 1);
    assert_eq!(counter[0].1, [(ts, 1247.0)]);
    assert_eq!(counter[0].0["symbol"], "AAPL");
    assert_eq!(counter[0].0["source"], "prediction-service");
    let gauge = strata.export("trading_profit_loss_usd");
    assert_eq!(gauge[0].1, [(ts, 12847.32)]);
    let buckets = strata.export("model_inference_duration_ms_bucket");
    assert_eq!(buckets.len(), 6);
    let count = strata.export("model_inference_duration_ms_count");
    assert_eq!(count[0].1, [(ts, 1247.0)]);
}

#[test]
fn custom_json_partly_invalid_stores_the_valid_items() {
    let strata = keeping_everything(&[]);
    let body = json!({"custom_metrics": {
        "timestamp": "2025-07-26T10:30:00Z",
        "source": "svc",
        "metrics": [
            {"name": "valid_one", "type": "gauge", "value": 1.5, "labels": {"a": "b"}},
            {"name": "bad name!", "type": "gauge", "value": 2},
            {"name": "valid_two", "type": "counter", "value": 3},
            {"name": "no_value", "type": "gauge"}
        ]
    }});
    let answer = strata.post(CUSTOM, &[JSON], body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "partial");
    assert_eq!(answer.json["samples_accepted"], 2);
    assert_eq!(answer.json["rejected"], 2);
    let items: Vec<u64> = answer.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item"].as_u64().unwrap())
        .collect();
    assert_eq!(items, [1, 3]);
    assert_eq!(strata.export("valid_one").len(), 1);
    assert_eq!(strata.export("valid_two").len(), 1);
}

#[test]
fn malformed_json_is_refused_whole() {
    let strata = keeping_everything(&[]);
    for path in [CUSTOM, EVENTS, "/api/v1/internal/metrics/batch"] {
        let answer = strata.post(path, &[JSON], "{\"custom_metrics\": {\"metrics\": [");
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        assert_eq!(answer.json["status"], "error");
        assert_eq!(answer.json["errorType"], "bad_data");
        assert!(!answer.json["error"].as_str().unwrap().is_empty());
    }
    let answer = strata.post(CUSTOM, &[JSON], "{\"something_else\": {}}");
    assert_eq!(answer.status, 400, "{}", answer.text);
    let answer = strata.post(CUSTOM, &[("content-type", "image/png")], "{}");
    assert_eq!(answer.status, 415, "{}", answer.text);
}

#[test]
fn spec_event_is_counted_once() {
    let strata = keeping_everything(&[]);
    let event = fixture("spec_event.json");
    let answer = strata.post(EVENTS, &[JSON], event.clone());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["events"], 1);
    assert_eq!(answer.json["duplicates"], 0);
    assert!(answer.json["samples_accepted"].as_u64().unwrap() > 0);

    let again = strata.post(EVENTS, &[JSON], event);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["duplicates"], 1);

    let counter = strata.export("events_total");
    assert_eq!(counter.len(), 1, "one series for the event");
    let (labels, points) = &counter[0];
    assert_eq!(
        points.last().unwrap().1,
        1.0,
        "a repeated event_id counts once"
    );
    assert_eq!(labels["event_type"], "prediction_completed");
    assert_eq!(labels["model_version"], "v2.1.3");
    for context_id in ["request_id", "session_id", "correlation_id"] {
        assert!(labels.get(context_id).is_none(), "{context_id} is no label");
    }
}

#[test]
fn samples_older_than_retention_are_listed_and_the_rest_stored() {
    let strata = StrataProcess::start(&["--warm-storage-retention", "30d"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body = format!("fresh_metric 1 {now}\nancient_metric 2 1000\n");
    let answer = strata.post(PROMETHEUS, &[], body);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "partial");
    assert_eq!(answer.json["samples_accepted"], 1);
    assert_eq!(answer.json["rejected"], 1);
    let error = &answer.json["errors"][0];
    assert_eq!(error["series"], "ancient_metric{}");
    assert_eq!(error["timestamp"], 1000);
    assert!(error["reason"].as_str().unwrap().contains("retention"));
    assert_eq!(strata.export("fresh_metric").len(), 1);
}
