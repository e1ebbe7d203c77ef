//! Times the engine on the query shapes of issue 4's goals, over an in-memory store:
//! `cargo run --release -p strata-promql --example query_bench`
//!
//! Prints the median and p99 of repeated runs, and the store's own share (a bare
//! `select` of the same data) so the engine's cost can be told apart.

use std::time::{Duration, Instant};
use strata_core::{Appender, Labels, Matcher, MemStorage, Querier, Sample, TimeRange, WriteBatch};
use strata_promql::{Engine, EngineOptions, QueryContext};

const STEP_MS: i64 = 15_000;

/// `series` counters `x{job, instance}` in 10 jobs, one sample every 15 s over `span_ms`.
fn load(series: usize, span_ms: i64) -> MemStorage {
    let store = MemStorage::new();
    for i in 0..series {
        let labels = Labels::new([
            ("__name__", "x".to_owned()),
            ("job", format!("job{}", i % 10)),
            ("instance", format!("host{i}")),
        ])
        .expect("valid labels");
        let samples = (0..=span_ms / STEP_MS)
            .map(|k| Sample {
                labels: labels.clone(),
                t: k * STEP_MS,
                v: (k * (1 + i as i64 % 7)) as f64,
            })
            .collect();
        store
            .append(&WriteBatch {
                samples,
                metadata: vec![],
            })
            .expect("append");
    }
    store
}

fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut d: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    d.sort();
    (d[runs / 2], d[(runs * 99 / 100).min(runs - 1)])
}

fn report(name: &str, (p50, p99): (Duration, Duration)) {
    println!("{name:<60} p50 {p50:>10.3?}  p99 {p99:>10.3?}");
}

fn main() {
    // `instant` or `range` runs only that half.
    let only = std::env::args().nth(1).unwrap_or_default();
    let engine = Engine::new(EngineOptions::default());
    let ctx = QueryContext::default();
    if only != "range" {
        instant_queries(&engine, &ctx);
    }
    if only != "instant" {
        range_queries(&engine, &ctx);
    }
}

fn instant_queries(engine: &Engine, ctx: &QueryContext) {
    let span = 10 * 60_000;
    let store = load(10_000, span);
    let q = "sum by (job) (rate(x[5m]))";
    report(
        "instant sum by (job) (rate(x[5m])), 10k series",
        time(50, || {
            engine.instant(&store, q, span, ctx).expect("query");
        }),
    );
    let m = [Matcher::equal("__name__", "x")];
    report(
        "  store alone: select x over 5m, 10k series",
        time(50, || {
            store
                .select(&m, TimeRange::new(span - 300_000 + 1, span))
                .expect("select");
        }),
    );
    for q in ["topk(5, rate(x[5m]))", "x{instance=~\"host1.*\"}"] {
        report(
            &format!("instant {q}, 10k series"),
            time(50, || {
                engine.instant(&store, q, span, ctx).expect("query");
            }),
        );
    }
}

fn range_queries(engine: &Engine, ctx: &QueryContext) {
    let m = [Matcher::equal("__name__", "x")];
    let day = 24 * 3_600_000;
    let store = load(1_000, day);
    for q in ["sum by (job) (rate(x[5m]))", "rate(x[5m])", "x"] {
        report(
            &format!("range 24h step 60s {q}, 1k series"),
            time(10, || {
                engine.range(&store, q, 0, day, 60_000, ctx).expect("query");
            }),
        );
    }
    report(
        "  store alone: select x over 24h, 1k series",
        time(10, || {
            store.select(&m, TimeRange::new(0, day)).expect("select");
        }),
    );
}
