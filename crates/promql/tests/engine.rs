//! The engine's public API: result shapes, error kinds, limits and cancellation.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_core::{Appender, Labels, MemStorage, Sample, WriteBatch, STALE_NAN};
use strata_promql::{
    format_query, parse_check, Engine, EngineOptions, ErrorKind, QueryContext, Value,
};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

/// `up{job=a|b, instance=0..n}` with one sample per minute for ten minutes, value = minute.
fn store(instances: usize) -> MemStorage {
    let s = MemStorage::new();
    let mut batch = WriteBatch::default();
    for job in ["a", "b"] {
        for i in 0..instances {
            let l = labels(&[
                ("__name__", "up"),
                ("job", job),
                ("instance", &i.to_string()),
            ]);
            for m in 0..=10 {
                batch.samples.push(Sample {
                    labels: l.clone(),
                    t: m * 60_000,
                    v: m as f64,
                });
            }
        }
    }
    s.append(&batch).unwrap();
    s
}

fn ctx() -> QueryContext {
    QueryContext::default()
}

#[test]
fn instant_results_have_the_expression_type() {
    let s = store(2);
    let e = Engine::default();
    match e
        .instant(&s, "sum by (job) (up)", 300_000, &ctx())
        .unwrap()
        .value
    {
        Value::Vector(v) => {
            assert_eq!(v.len(), 2);
            assert!(v.iter().all(|x| x.v == 10.0 && x.t == 300_000));
        }
        other => panic!("{other:?}"),
    }
    let out = e.instant(&s, "scalar(sum(up))", 60_000, &ctx()).unwrap();
    assert_eq!(out.value, Value::Scalar { t: 60_000, v: 4.0 });
    let out = e.instant(&s, "\"hi\"", 0, &ctx()).unwrap();
    assert_eq!(
        out.value,
        Value::String {
            t: 0,
            v: "hi".into()
        }
    );
    match e
        .instant(&s, "up{job=\"a\"}[2m]", 600_000, &ctx())
        .unwrap()
        .value
    {
        // Left-open window: the samples at 8m is out, 9m and 10m are in.
        Value::Matrix(m) => assert!(m.iter().all(|s| s.points.len() == 2)),
        other => panic!("{other:?}"),
    }
    assert!(out.stats.samples_loaded == 0);
}

#[test]
fn range_results_are_sorted_matrices() {
    let s = store(2);
    let out = Engine::default()
        .range(&s, "up * 2", 0, 120_000, 60_000, &ctx())
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    assert_eq!(m.len(), 4);
    assert!(m.windows(2).all(|w| w[0].labels < w[1].labels));
    let values: Vec<f64> = m[0].points.iter().map(|p| p.v).collect();
    assert_eq!(values, [0.0, 2.0, 4.0]);
    assert!(out.stats.samples_loaded > 0);
    assert_eq!(out.stats.series_loaded, 4);
}

#[test]
fn staleness_marker_ends_a_series() {
    let s = MemStorage::new();
    let l = labels(&[("__name__", "m")]);
    let sample = |t, v| Sample {
        labels: l.clone(),
        t,
        v,
    };
    s.append(&WriteBatch {
        samples: vec![sample(0, 1.0), sample(60_000, STALE_NAN)],
        metadata: vec![],
    })
    .unwrap();
    let e = Engine::default();
    let at = |t| match e.instant(&s, "m", t, &ctx()).unwrap().value {
        Value::Vector(v) => v.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(at(30_000), 1);
    assert_eq!(at(60_000), 0);
    // Without the marker the lookback delta (5m, left-open) would keep it until 5m.
    assert_eq!(at(299_999), 0);
}

#[test]
fn errors_are_classified() {
    let s = store(1);
    let e = Engine::default();
    let kind = |q: &str| e.instant(&s, q, 60_000, &ctx()).unwrap_err().kind;
    assert_eq!(kind("sum("), ErrorKind::BadData);
    assert_eq!(kind("up + on() up"), ErrorKind::Execution);
    assert_eq!(kind("histogram_count(up)"), ErrorKind::Execution);
    let err = e.range(&s, "up[5m]", 0, 60_000, 1_000, &ctx()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadData);
    assert!(err.message.contains("range vector"), "{}", err.message);
    assert_eq!(
        e.range(&s, "up", 0, 60_000, 0, &ctx()).unwrap_err().kind,
        ErrorKind::BadData
    );
    assert_eq!(
        e.range(&s, "up", 0, 1_000_000_000, 1, &ctx())
            .unwrap_err()
            .kind,
        ErrorKind::BadData
    );
    assert_eq!(ErrorKind::Execution.as_str(), "execution");
    // Go reads a `{` that opens no repetition as a literal, and so does Strata.
    assert!(e.instant(&s, "up{job=~\"a{b}|a\"}", 60_000, &ctx()).is_ok());
}

#[test]
fn many_to_many_matching_names_the_series() {
    let s = store(2);
    let err = Engine::default()
        .instant(&s, "up + on(job) up", 60_000, &ctx())
        .unwrap_err();
    assert!(
        err.message.starts_with(
            "found duplicate series for the match group {job=\"a\"} on the right hand-side"
        ),
        "{}",
        err.message
    );
}

#[test]
fn limits_stop_the_query_and_name_the_limit() {
    let s = store(5);
    let e = Engine::new(EngineOptions {
        max_series: 3,
        ..EngineOptions::default()
    });
    let err = e.instant(&s, "up", 60_000, &ctx()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManySeries);
    assert!(
        err.message.contains("more than 3 series"),
        "{}",
        err.message
    );
    let e = Engine::new(EngineOptions {
        max_samples: 5,
        ..EngineOptions::default()
    });
    let err = e.instant(&s, "up", 60_000, &ctx()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManySamples);
    assert!(err.message.contains("5"), "{}", err.message);
    // Samples a subquery produces count too, though none come from the store.
    let e = Engine::new(EngineOptions {
        max_samples: 100,
        ..EngineOptions::default()
    });
    let err = e
        .instant(&s, "max_over_time(vector(1)[1h:1s])", 60_000, &ctx())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManySamples);
}

#[test]
fn cancellation_and_deadline_stop_the_work() {
    let s = store(2);
    let e = Engine::default();
    let cancelled = QueryContext {
        deadline: None,
        cancel: Some(Arc::new(AtomicBool::new(true))),
    };
    let err = e
        .range(&s, "rate(up[5m])", 0, 600_000, 1_000, &cancelled)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Canceled);
    let late = QueryContext {
        deadline: Some(Instant::now() - Duration::from_millis(1)),
        cancel: None,
    };
    let err = e
        .range(&s, "rate(up[5m])", 0, 600_000, 1_000, &late)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    let ok = QueryContext::with_timeout(Duration::from_secs(60));
    assert!(e.instant(&s, "up", 0, &ok).is_ok());
}

#[test]
fn offset_and_at_move_the_evaluation_time() {
    let s = store(1);
    let e = Engine::default();
    let value = |q: &str, t| match e.instant(&s, q, t, &ctx()).unwrap().value {
        Value::Vector(v) => v[0].v,
        Value::Scalar { v, .. } => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(value("sum(up offset 2m)", 300_000), 6.0);
    assert_eq!(value("sum(up @ 120)", 600_000), 4.0);
    assert_eq!(value("sum(up @ start())", 600_000), 20.0);
    assert_eq!(
        value("max_over_time(sum(up)[5m:1m] offset 1m)", 600_000),
        18.0
    );
}

#[test]
fn parse_check_and_format() {
    assert!(parse_check("sum by (job) (rate(x[5m]))").is_ok());
    assert_eq!(
        parse_check("sum by (").unwrap_err().kind,
        ErrorKind::BadData
    );
    assert_eq!(format_query("sum(x)by(job)").unwrap(), "sum by (job) (x)");
}

fn vector(e: &Engine, s: &MemStorage, q: &str, t: i64) -> Vec<strata_promql::VectorSample> {
    match e.instant(s, q, t, &ctx()).unwrap().value {
        Value::Vector(v) => v,
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn limitk_and_limit_ratio_pick_stable_subsets() {
    let s = store(10);
    let e = Engine::default();
    let per_job = vector(&e, &s, "limitk by (job) (3, up)", 60_000);
    assert_eq!(per_job.len(), 6);
    let mut half = vector(&e, &s, "limit_ratio(0.5, up)", 60_000);
    let other = vector(&e, &s, "limit_ratio(-0.5, up)", 60_000);
    // The two halves partition the input, and each is stable across evaluations.
    assert_eq!(half.len() + other.len(), 20);
    assert!(half
        .iter()
        .all(|a| other.iter().all(|b| a.labels != b.labels)));
    let again = vector(&e, &s, "limit_ratio(0.5, up)", 120_000);
    half.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut again_labels: Vec<_> = again.into_iter().map(|x| x.labels).collect();
    again_labels.sort();
    assert_eq!(
        half.into_iter().map(|x| x.labels).collect::<Vec<_>>(),
        again_labels
    );
}

#[test]
fn count_values_and_group_left_build_labels() {
    let s = store(2);
    let e = Engine::default();
    let counts = vector(&e, &s, "count_values by (job) (\"v\", up)", 120_000);
    assert_eq!(counts.len(), 2);
    assert!(counts
        .iter()
        .all(|c| c.labels.get("v") == Some("2") && c.v == 2.0));
    let joined = vector(
        &e,
        &s,
        "up * on(job) group_left(extra) label_replace(sum by (job) (up), \"extra\", \"$1\", \"job\", \"(.*)\")",
        60_000,
    );
    assert_eq!(joined.len(), 4);
    assert!(joined
        .iter()
        .all(|x| x.labels.get("extra") == x.labels.get("job") && x.labels.metric_name().is_none()));
}

#[test]
fn extreme_times_and_ranges_are_answered_or_refused() {
    let s = store(1);
    let e = Engine::default();
    for q in [
        "up offset 300000000y",
        "up offset -300000000y",
        "rate(up[300000000y])",
        "up @ 9999999999999",
    ] {
        assert!(e.instant(&s, q, 300_000, &ctx()).is_ok(), "{q}");
    }
    let err = e
        .instant(&s, "max_over_time(up[200000000y:1m])", 300_000, &ctx())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManySamples);
    assert!(e.instant(&s, "up", i64::MAX, &ctx()).is_ok());
    assert!(e
        .range(&s, "up", i64::MIN, i64::MAX, i64::MAX, &ctx())
        .is_ok());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    const QUERIES: [&str; 8] = [
        "sum by (job) (rate(up[5m]))",
        "topk(2, up) + on(job) group_left sum by (job) (up)",
        "histogram_quantile(0.9, sum by (le) (rate(up[5m])))",
        "label_replace(up, \"x\", \"$1\", \"job\", \"(.*)\") or absent(nope)",
        "max_over_time(deriv(up[2m])[10m:30s] offset 1m) @ 300",
        "quantile_over_time(0.5, up[5m]) > bool 2",
        "count_values(\"v\", up) unless sort_by_label(up, \"job\")",
        "double_exponential_smoothing(up[5m], 0.5, 0.5) / scalar(sum(up))",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn mutated_queries(q in 0..QUERIES.len(), at in 0usize..60, junk in "[(){}\\[\\]@:,+*/^<>=!~\"a-z0-9 .-]{0,4}") {
            let mut text = QUERIES[q].to_owned();
            let at = at.min(text.len());
            text.insert_str(at, &junk);
            let s = store(2);
            let e = Engine::default();
            let _ = e.instant(&s, &text, 300_000, &ctx());
            let _ = e.range(&s, &text, 0, 600_000, 45_000, &ctx());
        }

        #[test]
        fn random_queries(text in "[(){}\\[\\]@:,+*/^<>=!~\"a-z_0-9 .-]{0,30}") {
            let s = store(1);
            let e = Engine::default();
            let _ = e.instant(&s, &text, 300_000, &ctx());
            let _ = e.range(&s, &text, -60_000, 600_000, 30_000, &ctx());
        }
    }
}

#[test]
fn pinned_windows_repeat_across_steps() {
    let s = store(1);
    let e = Engine::default();
    let out = e
        .range(
            &s,
            "rate(up{job=\"a\"}[5m] @ 300)",
            0,
            600_000,
            60_000,
            &ctx(),
        )
        .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    assert_eq!(m[0].points.len(), 11);
    assert!(m[0].points.iter().all(|p| (p.v - 1.0 / 60.0).abs() < 1e-12));
}

/// An aggregation over a range function may get its series with the metric names still
/// on (see `eval_vector_ignoring_names`); it must answer as if they were gone. `* 1`
/// evaluates the same function the ordinary way.
#[test]
fn aggregations_over_range_functions_answer_without_names() {
    let s = store(4);
    let e = Engine::default();
    for agg in [
        "topk(3, {})",
        "bottomk by (job) (2, {})",
        "limitk(5, {})",
        "sum by (job) ({})",
        "sum by (__name__, job) ({})",
        "count without (instance) ({})",
        "count_values(\"v\", {})",
        "quantile(0.5, {})",
    ] {
        let direct = agg.replace("{}", "rate(up[5m])");
        let ordinary = agg.replace("{}", "(rate(up[5m]) * 1)");
        let got = e.range(&s, &direct, 0, 600_000, 60_000, &ctx()).unwrap();
        let want = e.range(&s, &ordinary, 0, 600_000, 60_000, &ctx()).unwrap();
        assert_eq!(got.value, want.value, "{direct}");
        let got = vector(&e, &s, &direct, 600_000);
        assert_eq!(got, vector(&e, &s, &ordinary, 600_000), "{direct}");
        assert!(got.iter().all(|x| x.labels.metric_name().is_none()));
    }
    let by_name = vector(&e, &s, "sum by (__name__) (rate(up[5m]))", 600_000);
    assert_eq!(by_name.len(), 1);
    assert!(by_name[0].labels.is_empty());

    // Two metrics whose series differ only by name still collide once it is dropped.
    let batch = WriteBatch {
        samples: (0..=10)
            .map(|m| Sample {
                labels: labels(&[("__name__", "up2"), ("job", "a"), ("instance", "0")]),
                t: m * 60_000,
                v: m as f64,
            })
            .collect(),
        metadata: vec![],
    };
    s.append(&batch).unwrap();
    let err = e
        .instant(
            &s,
            "sum by (job) (rate({__name__=~\"up2?\"}[5m]))",
            600_000,
            &ctx(),
        )
        .unwrap_err();
    assert!(err.message.contains("same labelset"), "{}", err.message);
}
