use super::*;
use crate::fixtures::{self, kinds, rendered};
use proptest::prelude::*;

fn agg() -> Aggregator {
    Aggregator::new(StatsdConfig {
        timer_buckets: vec![0.01, 0.1],
        series_ttl_ms: 0,
    })
}

#[test]
fn spec_sample_flushes_exactly() {
    let mut a = Aggregator::new(StatsdConfig::default());
    assert!(a.ingest(fixtures::STATSD.as_bytes(), 1000).is_empty());
    let b = a.flush(2000);
    let inst = r#"instance="ml-inference-001", service="ml-inference""#;
    let mut want = vec![
        format!("system_cpu_usage{{{inst}}} 67.5 2000"),
        format!("system_memory_usage{{{inst}}} 72.1 2000"),
        format!("system_disk_usage{{{inst}}} 45.2 2000"),
    ];
    let rt = [("endpoint", "/predict"), ("service", "ml-inference")];
    let q = [("query_type", "feature_fetch"), ("service", "ml-inference")];
    for (name, tags, v) in [
        ("service_response_time", rt, 0.023),
        ("service_database_query_time", q, 0.008),
    ] {
        let labels = |suffix: &str, le: Option<f64>| {
            let full = format!("{name}{suffix}");
            let le = le.map(crate::format_float);
            let extra = le.as_deref().map(|le| ("le", le));
            Labels::new(
                tags.iter()
                    .copied()
                    .chain(extra)
                    .chain([("__name__", full.as_str())]),
            )
            .unwrap()
        };
        for le in DEFAULT_BUCKETS.iter().copied().chain([f64::INFINITY]) {
            want.push(format!(
                "{} {} 2000",
                labels("_bucket", Some(le)),
                u8::from(v <= le)
            ));
        }
        want.push(format!("{} {v} 2000", labels("_sum", None)));
        want.push(format!("{} 1 2000", labels("_count", None)));
    }
    want.push(
        r#"service_requests{endpoint="/predict", service="ml-inference", status="200"} 1 2000"#
            .into(),
    );
    want.push(r#"service_errors{endpoint="/predict", error_type="timeout", service="ml-inference"} 1 2000"#.into());
    assert_eq!(rendered(&b), want);
    let kinds = kinds(&b);
    assert_eq!(kinds[0], ("system_cpu_usage", MetricType::Gauge));
    assert_eq!(kinds[3], ("service_response_time", MetricType::Histogram));
    assert_eq!(kinds[5], ("service_requests", MetricType::Counter));
    let s = a.stats();
    assert_eq!((s.lines_accepted, s.comments_ignored, s.series), (7, 3, 7));
    assert!(
        a.flush(3000).metadata.is_empty(),
        "metadata is announced once"
    );
}

#[test]
fn counters_are_cumulative_and_scaled_by_rate() {
    let mut a = agg();
    a.ingest(b"hits:1|c\nhits:2|c|@0.5\n", 0);
    assert_eq!(rendered(&a.flush(10)), ["hits{} 5 10"]);
    assert_eq!(rendered(&a.flush(20)), ["hits{} 5 20"]);
    a.ingest(b"hits:1|c", 25);
    assert_eq!(rendered(&a.flush(30)), ["hits{} 6 30"]);
}

#[test]
fn gauges_absolute_and_relative() {
    let mut a = agg();
    a.ingest(b"g:+5|g\ng:-2|g\n", 0);
    assert_eq!(rendered(&a.flush(1)), ["g{} 3 1"]);
    a.ingest(b"g:10|g\ng:+1:-4|g", 0);
    assert_eq!(rendered(&a.flush(2)), ["g{} 7 2"]);
}

#[test]
fn timers_histograms_and_packing() {
    let mut a = agg();
    a.ingest(b"t:5:50:500|ms\nh:0.05|h|@0.25\nd:7|d", 0);
    let got = rendered(&a.flush(1));
    assert_eq!(
        got,
        [
            r#"t_bucket{le="0.01"} 1 1"#,
            r#"t_bucket{le="0.1"} 2 1"#,
            r#"t_bucket{le="+Inf"} 3 1"#,
            "t_sum{} 0.555 1",
            "t_count{} 3 1",
            r#"h_bucket{le="0.01"} 0 1"#,
            r#"h_bucket{le="0.1"} 4 1"#,
            r#"h_bucket{le="+Inf"} 4 1"#,
            "h_sum{} 0.2 1",
            "h_count{} 4 1",
            r#"d_bucket{le="0.01"} 0 1"#,
            r#"d_bucket{le="0.1"} 0 1"#,
            r#"d_bucket{le="+Inf"} 1 1"#,
            "d_sum{} 7 1",
            "d_count{} 1 1",
        ]
    );
}

#[test]
fn sets_count_distinct_members_per_interval() {
    let mut a = agg();
    a.ingest(b"users:alice|s\nusers:bob|s\nusers:alice:carol|s", 0);
    assert_eq!(rendered(&a.flush(1)), ["users{} 3 1"]);
    assert_eq!(rendered(&a.flush(2)), ["users{} 0 2"]);
}

#[test]
fn tags_in_any_order_and_style_are_one_series() {
    let mut a = agg();
    a.ingest(
        b"req:1|c|#a:1,b:2\nreq:1|c|#b:2,a:1\nreq,a=1:1|c|#b:2\nreq:1|c|#a:1,b:2,flag",
        0,
    );
    assert_eq!(rendered(&a.flush(1)), [r#"req{a="1", b="2"} 4 1"#]);
    assert_eq!(a.stats().tags_dropped, 1);
}

#[test]
fn explicit_timestamps() {
    let mut a = agg();
    a.ingest(b"g:1|g|T1700000000\nc:1|c", 0);
    assert_eq!(rendered(&a.flush(5)), ["g{} 1 1700000000000", "c{} 1 5"]);
    assert_eq!(rendered(&a.flush(6)), ["g{} 1 6", "c{} 1 6"]);
}

#[test]
fn bad_lines_are_returned_and_the_rest_kept() {
    let mut a = agg();
    let r = a.ingest(
        b"ok:1|c\nbad\nx:1|c\r\nx:1|g|#other:tags\n_e{1,1}:a|b\n_sc|s|0\nn:1|c|#a:1,a:2\n\xff:1|c\n",
        0,
    );
    let got: Vec<_> = r.iter().map(|r| (r.item, r.reason.as_str())).collect();
    assert_eq!(got[0], (2, "missing '|' and the metric type: \"bad\""));
    assert_eq!(
        got[1],
        (
            4,
            "metric x is a counter, not a gauge: \"x:1|g|#other:tags\""
        )
    );
    assert_eq!(got[2].0, 7);
    assert!(got[2].1.contains("duplicate label name"), "{}", got[2].1);
    assert_eq!(got[3].0, 8);
    assert!(got[3].1.starts_with("invalid UTF-8"));
    let s = a.stats();
    assert_eq!(
        (
            s.lines_accepted,
            s.lines_rejected,
            s.events_ignored,
            s.service_checks_ignored
        ),
        (2, 4, 1, 1)
    );
    assert_eq!(a.lines_accepted(), 2);
    assert_eq!(rendered(&a.flush(1)), ["ok{} 1 1", "x{} 1 1"]);
}

#[test]
fn idle_series_expire_after_the_ttl() {
    let mut a = Aggregator::new(StatsdConfig {
        series_ttl_ms: 100,
        ..StatsdConfig::default()
    });
    a.ingest(b"old:1|c\nkept:1|g", 0);
    a.ingest(b"kept:2|g", 150);
    assert_eq!(rendered(&a.flush(160)), ["kept{} 2 160"]);
    a.ingest(b"old:1|c\nkept:+1|g", 170);
    assert_eq!(rendered(&a.flush(180)), ["kept{} 3 180", "old{} 1 180"]);
    assert_eq!(a.stats().series, 2);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut a = agg();
        let r = a.ingest(&packet, 0);
        prop_assert_eq!(r.len() as u64, a.stats().lines_rejected);
        a.flush(1);
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec("[a-z.,=#:|@T0-9+-]{0,24}", 0..16)) {
        let mut a = agg();
        a.ingest(lines.join("\n").as_bytes(), 0);
        a.flush(1);
    }

    #[test]
    fn mutated_packets_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut b = fixtures::STATSD.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at % b.len();
            b[i] = byte;
        }
        let mut a = agg();
        a.ingest(&b, 0);
        a.flush(1);
    }
}
