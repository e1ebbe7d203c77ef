//! Times the engine on the query shapes of issue 4's goals, over an in-memory store:
//! `cargo run --release -p strata-promql --example query_bench`
//!
//! Prints the median and p99 of repeated runs, and the store's own share (a bare
//! `select` of the same data) so the engine's cost can be told apart. The store is a
//! plain indexed vector of series ([`VecStore`]), standing in for a real store's head.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use strata_core::{
    Labels, Matcher, MetricMetadata, Point, Querier, Series, StorageError, TimeRange,
};
use strata_promql::{Engine, EngineOptions, QueryContext};

const STEP_MS: i64 = 15_000;

/// Series grouped by metric name, points sorted by time.
#[derive(Default)]
struct VecStore {
    by_name: HashMap<String, Vec<Series>>,
}

impl Querier for VecStore {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<Series>, StorageError> {
        let name = matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == strata_core::MatchOp::Equal)
            .ok_or_else(|| StorageError::Other("the bench store needs a metric name".into()))?;
        let Some(all) = self.by_name.get(&name.value) else {
            return Ok(Vec::new());
        };
        Ok(all
            .iter()
            .filter(|s| Matcher::all_match(matchers, &s.labels))
            .filter_map(|s| {
                let lo = s.points.partition_point(|p| p.t < range.start);
                let hi = s.points.partition_point(|p| p.t <= range.end);
                (lo < hi).then(|| Series {
                    labels: s.labels.clone(),
                    points: s.points[lo..hi].to_vec(),
                })
            })
            .collect())
    }

    fn series(&self, m: &[Matcher], r: TimeRange) -> Result<Vec<Labels>, StorageError> {
        Ok(self.select(m, r)?.into_iter().map(|s| s.labels).collect())
    }

    fn label_names(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_values(
        &self,
        _: &str,
        _: &[Matcher],
        _: TimeRange,
    ) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn metadata(&self, _: Option<&str>) -> Result<Vec<MetricMetadata>, StorageError> {
        Ok(Vec::new())
    }
}

/// `series` counters `x{job, instance}` in 10 jobs, one sample every 15 s over `span_ms`.
fn load(series: usize, span_ms: i64) -> VecStore {
    let mut store = VecStore::default();
    for i in 0..series {
        let labels = Labels::new([
            ("__name__", "x".to_owned()),
            ("job", format!("job{}", i % 10)),
            ("instance", format!("host{i}")),
        ])
        .expect("valid labels");
        let points = (0..=span_ms / STEP_MS)
            .map(|k| Point {
                t: k * STEP_MS,
                v: (k * (1 + i as i64 % 7)) as f64,
            })
            .collect();
        store
            .by_name
            .entry("x".into())
            .or_default()
            .push(Series { labels, points });
    }
    store
}

/// This thread's CPU time: on a busy machine it is the truer cost of a query.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median and p99 of wall time, and median CPU time.
fn time(runs: usize, mut f: impl FnMut()) -> [Duration; 3] {
    let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..runs)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_time());
            f();
            (t.elapsed(), cpu_time() - c)
        })
        .unzip();
    wall.sort();
    cpu.sort();
    [
        wall[runs / 2],
        wall[(runs * 99 / 100).min(runs - 1)],
        cpu[runs / 2],
    ]
}

fn report(name: &str, [p50, p99, cpu]: [Duration; 3]) {
    println!("{name:<58} p50 {p50:>9.3?}  p99 {p99:>9.3?}  cpu p50 {cpu:>9.3?}");
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
    for q in [
        "sum by (job) (rate(x[5m]))",
        "rate(x[5m])",
        "x",
        "x / on(job, instance) x",
    ] {
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
