//! The server's own endpoints against the real binary: batch ingest, health and
//! readiness, `/metrics`, admin flush, back-pressure and graceful shutdown.

mod common;

use common::{fixture, StrataProcess};
use serde_json::{json, Value};

const BATCH: &str = "/api/v1/internal/metrics/batch";
const JSON: (&str, &str) = ("content-type", "application/json");

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn batch_of_mixed_formats_reports_each_item() {
    let strata = StrataProcess::start(&["--warm-storage-retention", "0"]);
    let custom: Value = serde_json::from_slice(&fixture("spec_custom.json")).unwrap();
    let event: Value = serde_json::from_slice(&fixture("spec_event.json")).unwrap();
    let body = json!({"items": [
        {"format": "prometheus", "data": String::from_utf8(fixture("spec_prometheus.txt")).unwrap()},
        {"format": "custom", "data": custom},
        {"format": "events", "data": event},
        {"format": "statsd", "data": "batch.requests:3|c|#route:x\nnot statsd\nbatch.temp:20|g"},
        {"format": "prometheus", "data": "broken{ 1\n"},
        {"format": "carrier-pigeon", "data": "coo"}
    ]});
    let answer = strata.post(BATCH, &[JSON], body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "partial");
    let items = answer.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0]["samples"], 8);
    assert_eq!(items[1]["samples"], 10);
    assert!(items[2]["samples"].as_u64().unwrap() > 0);
    assert_eq!(items[3]["samples"], 2);
    assert!(items[3]["error"].is_null());
    assert!(items[4]["error"].as_str().unwrap().contains("line 1"));
    assert!(!items[5]["error"].is_null());
    // Two whole items and one StatsD line refused.
    assert_eq!(answer.json["rejected"], 3);
    let refused: Vec<u64> = answer.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item"].as_u64().unwrap())
        .collect();
    assert_eq!(refused, [4, 5, 3]);
    let total: u64 = items.iter().map(|i| i["samples"].as_u64().unwrap()).sum();
    assert_eq!(answer.json["samples_accepted"].as_u64().unwrap(), total);
    assert_eq!(strata.export("http_requests_total").len(), 1);
    assert_eq!(strata.export("batch_temp")[0].1[0].1, 20.0);
}

#[test]
fn batch_takes_ten_thousand_items_and_refuses_more() {
    let strata = StrataProcess::start(&[]);
    let t = now_ms();
    let items = |n: usize| {
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"format": "prometheus", "data": format!("batch_item{{i=\"{i}\"}} {i} {t}\n")}))
            .collect();
        json!({ "items": items }).to_string()
    };
    let answer = strata.post(BATCH, &[JSON], items(10_000));
    assert_eq!(
        answer.status,
        200,
        "{}",
        &answer.text[..answer.text.len().min(500)]
    );
    assert_eq!(answer.json["samples_accepted"], 10_000);
    assert_eq!(answer.json["series_accepted"], 10_000);

    let answer = strata.post(BATCH, &[JSON], items(10_001));
    assert_eq!(answer.status, 400);
    assert!(answer.json["error"].as_str().unwrap().contains("10000"));
}

#[test]
fn health_ready_and_healthy() {
    let strata = StrataProcess::start(&[]);
    let ready = strata.get("/-/ready");
    assert_eq!(
        (ready.status, ready.text.as_str()),
        (200, "Strata is Ready.\n")
    );
    let healthy = strata.get("/-/healthy");
    assert_eq!(
        (healthy.status, healthy.text.as_str()),
        (200, "Strata is Healthy.\n")
    );

    let t = now_ms();
    let stored = strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("health_probe 1 {t}\n"),
    );
    assert_eq!(stored.status, 200);
    let health = strata.get("/api/v1/internal/metrics/health");
    assert_eq!(health.status, 200);
    let h = &health.json;
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(h["storage"]["engine"], "tsdb");
    assert_eq!(h["storage"]["state"], "ok");
    assert!(h["storage"]["stats"]["head_series"].as_f64().unwrap() >= 1.0);
    assert!(h["storage"]["stats"]["wal_bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(h["ingest"]["prometheus"]["requests"], 1);
    assert_eq!(h["ingest"]["prometheus"]["samples"], 1);
}

#[test]
fn metrics_expose_ingest_storage_and_query_figures() {
    let strata = StrataProcess::start(&[]);
    let t = now_ms();
    strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("m1 1 {t}\nm2 2 {t}\n"),
    );
    strata.post("/api/v1/internal/metrics/prometheus", &[], "bad{\n");
    let metrics = strata.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    for line in [
        "strata_ingest_samples_total{format=\"prometheus\"} 2",
        "strata_ingest_requests_total{format=\"prometheus\"} 2",
        "strata_ingest_failed_requests_total{format=\"prometheus\"} 1",
        "strata_storage_head_series 2",
        "# TYPE strata_storage_samples_appended_total counter",
        "strata_storage_samples_appended_total 2",
        "strata_statsd_lines_accepted_total 0",
    ] {
        assert!(text.contains(line), "/metrics lacks {line:?}:\n{text}");
    }
    // Strata's own metrics are valid Prometheus text: Strata ingests them back.
    let again = strata.post("/api/v1/internal/metrics/prometheus", &[], text.clone());
    assert_eq!(again.status, 200, "{}", again.text);
}

#[test]
fn admin_flush_cuts_the_head_into_a_block() {
    let mut strata = StrataProcess::start(&[]);
    let t = now_ms();
    strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("flushed_metric{{a=\"1\"}} 5 {t}\n"),
    );
    let answer = strata.post("/api/v1/admin/metrics/flush", &[], "");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["status"], "success");
    assert!(answer.json["stats"]["blocks"].as_f64().unwrap() >= 1.0);
    assert_eq!(answer.json["stats"]["head_samples"], 0.0);
    strata.restart();
    assert_eq!(strata.export("flushed_metric")[0].1, [(t, 5.0)]);
}

#[test]
fn storage_back_pressure_is_429_with_retry_after() {
    let strata = StrataProcess::start(&["--max-head-series", "2"]);
    let t = now_ms();
    let ok = strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("a 1 {t}\nb 1 {t}\n"),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    let refused = strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("c 1 {t}\n"),
    );
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.json["errorType"], "unavailable");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Existing series still take samples.
    let ok = strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("a 2 {}\n", t + 1),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[test]
fn sigterm_shuts_down_gracefully_and_keeps_data() {
    let mut strata = StrataProcess::start(&[]);
    let t = now_ms();
    strata.post(
        "/api/v1/internal/metrics/prometheus",
        &[],
        format!("before_shutdown 3 {t}\n"),
    );
    assert!(strata.terminate().success());
    assert!(strata.log().contains("shutting down"));
    strata.restart();
    assert_eq!(strata.export("before_shutdown")[0].1, [(t, 3.0)]);
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let strata = StrataProcess::start(&[]);
    let out = common::run_strata(
        &[
            "serve",
            "--data-dir",
            strata.data_dir().to_str().unwrap(),
            "--http-addr",
            "127.0.0.1:0",
            "--statsd-addr",
            "off",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another strata process"),
        "{stderr}"
    );
    assert_eq!(
        strata.get("/-/healthy").status,
        200,
        "the first one runs on"
    );
}

#[test]
fn a_full_ingest_queue_answers_429_and_recovers() {
    let strata =
        StrataProcess::start(&["--ingestion-workers", "1", "--ingestion-buffer-size", "1"]);
    // Two uploads that never finish their body fill the one worker and the queue of one.
    // A fast request may be admitted before the server has read a slow one's headers,
    // and then that slow one is the one refused: it is replaced until both slots hold
    // slow uploads.
    let addr = strata.http_url().trim_start_matches("http://").to_owned();
    let mut slow: Vec<std::net::TcpStream> = (0..2).map(|_| slow_upload(&addr)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        let answer = strata.post("/api/v1/import/prometheus", &[], "fast 1\n");
        if answer.status == 429 {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never refused: {}\nlog:\n{}",
            answer.text,
            strata.log()
        );
        for s in &mut slow {
            if has_answered(s) {
                *s = slow_upload(&addr);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(refused.headers["retry-after"], "1");
    assert!(refused.json["error"]
        .as_str()
        .unwrap()
        .contains("METRICS_INGESTION_BUFFER_SIZE"));
    drop(slow);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while strata
        .post("/api/v1/import/prometheus", &[], "fast 1\n")
        .status
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An upload that sends its headers and a part of its body, then stalls.
fn slow_upload(addr: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/v1/import/prometheus HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nslow 1"
    )
    .unwrap();
    s
}

/// Whether the server has already answered (refused) a stalled upload.
fn has_answered(s: &std::net::TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let answered =
        !matches!(s.peek(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    answered
}
