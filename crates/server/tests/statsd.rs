//! StatsD over UDP and TCP against the real binary: the spec's payload, bad lines that
//! leave the rest of their packet, and the flush into the store.

mod common;

use common::{fixture, StrataProcess};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Metric lines in the spec's StatsD payload (its `#` annotations are skipped by the server).
const SPEC_METRIC_LINES: u64 = 7;

fn statsd_counter(strata: &StrataProcess, field: &str) -> u64 {
    let health = strata.get("/api/v1/internal/metrics/health").json;
    match field {
        "lines_accepted" => health["statsd"]["aggregator"]["lines_accepted"]
            .as_u64()
            .unwrap(),
        other => health["ingest"]["statsd"][other].as_u64().unwrap(),
    }
}

/// Waits until the server has aggregated `lines` lines (UDP is handled asynchronously).
fn wait_for_lines(strata: &StrataProcess, lines: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while statsd_counter(strata, "lines_accepted") < lines {
        assert!(
            Instant::now() < deadline,
            "only {} of {lines} StatsD lines arrived",
            statsd_counter(strata, "lines_accepted")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn flush(strata: &StrataProcess) {
    let answer = strata.post("/api/v1/admin/metrics/flush", &[], "");
    assert_eq!(answer.status, 200, "{}", answer.text);
}

fn gauge(strata: &StrataProcess, selector: &str) -> (serde_json::Value, f64) {
    let series = strata.export(selector);
    assert_eq!(series.len(), 1, "{selector}: {series:?}");
    let (labels, points) = &series[0];
    (labels.clone(), points.last().unwrap().1)
}

#[test]
fn spec_payload_over_udp() {
    let strata = StrataProcess::start(&[]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(&fixture("spec_statsd.txt"), strata.statsd_addr())
        .unwrap();
    wait_for_lines(&strata, SPEC_METRIC_LINES);
    assert_eq!(statsd_counter(&strata, "rejected_items"), 0);
    flush(&strata);

    let (labels, value) = gauge(&strata, "system_cpu_usage");
    assert_eq!(value, 67.5);
    assert_eq!(labels["service"], "ml-inference");
    assert_eq!(labels["instance"], "ml-inference-001");
    assert_eq!(gauge(&strata, "system_disk_usage").1, 45.2);
    let (labels, value) = gauge(&strata, r#"{__name__=~"service_requests(_total)?"}"#);
    assert_eq!(value, 1.0);
    assert_eq!(labels["status"], "200");
    // Timers become histograms in seconds: 23 ms is one observation summing to 0.023 s.
    assert_eq!(gauge(&strata, "service_response_time_count").1, 1.0);
    assert!((gauge(&strata, "service_response_time_sum").1 - 0.023).abs() < 1e-9);
}

#[test]
fn tcp_lines_and_bad_lines_keep_the_rest() {
    let strata = StrataProcess::start(&[]);
    let mut stream = TcpStream::connect(strata.statsd_addr()).unwrap();
    // One good line split across writes, a bad line between good ones.
    stream
        .write_all(b"tcp.hits:2|c|#route:a\nnot a statsd line\ntcp.te")
        .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream
        .write_all(b"mp:21.5|g\ntcp.hits:3|c|#route:a\n")
        .unwrap();
    drop(stream);
    wait_for_lines(&strata, 3);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"udp.ok:1|g\n:::|||\nudp.also_ok:2|g", strata.statsd_addr())
        .unwrap();
    wait_for_lines(&strata, 5);
    flush(&strata);

    assert_eq!(statsd_counter(&strata, "rejected_items"), 2);
    assert_eq!(gauge(&strata, r#"{__name__=~"tcp_hits(_total)?"}"#).1, 5.0);
    assert_eq!(gauge(&strata, "tcp_temp").1, 21.5);
    assert_eq!(gauge(&strata, "udp_ok").1, 1.0);
    assert_eq!(gauge(&strata, "udp_also_ok").1, 2.0);
}

#[test]
fn aggregates_are_flushed_on_the_interval_and_at_shutdown() {
    let mut strata = StrataProcess::start(&["--ingestion-flush-interval", "200ms"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"interval.gauge:7|g", strata.statsd_addr())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while strata.export("interval_gauge").is_empty() {
        assert!(Instant::now() < deadline, "the flush loop did not write");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(gauge(&strata, "interval_gauge").1, 7.0);

    // A long interval: only the shutdown flush can store this one.
    let mut slow = StrataProcess::start(&["--ingestion-flush-interval", "1h"]);
    socket
        .send_to(b"shutdown.gauge:9|g", slow.statsd_addr())
        .unwrap();
    wait_for_lines(&slow, 1);
    assert!(slow.terminate().success(), "graceful exit");
    slow.restart();
    assert_eq!(gauge(&slow, "shutdown_gauge").1, 9.0);
    strata.kill9();
}
