//! Measures `Tsdb::select` latency on the read path, from the head and from blocks:
//! (a) the last 5 minutes of one metric with 10,000 series holding 2 h of samples (a
//! real-time dashboard query), and (b) 24 h of one metric with 1,000 series (a range
//! query over a day).
//!
//! `cargo run --release -p strata-tsdb --example select_bench -- [runs]` (default 7 runs
//! per query; the median and the fastest are reported, for `select` and for
//! `select_each`). Samples are 15 s apart; values are counters and 2-decimal gauges,
//! as node-exporter's.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use strata_core::{each_series, Appender, Labels, Matcher, Querier, Sample, TimeRange, WriteBatch};
use strata_tsdb::{Options, Tsdb, WalSync};

const STEP_MS: i64 = 15_000;
const T0: i64 = 1_700_000_000_000;
const DAY_POINTS: usize = 24 * 3600 / 15;
const RECENT_POINTS: usize = 2 * 3600 / 15;

struct Metric {
    name: &'static str,
    series: usize,
    points: usize,
}

const RECENT: Metric = Metric {
    name: "recent_metric_total",
    series: 10_000,
    points: RECENT_POINTS,
};
const DAY: Metric = Metric {
    name: "day_metric_total",
    series: 1_000,
    points: DAY_POINTS,
};

/// The last timestamp written: both metrics end at the same time.
fn end_t() -> i64 {
    T0 + (DAY_POINTS as i64 - 1) * STEP_MS
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// CPU seconds used by this process so far (user + system), from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse::<f64>().ok())
        .sum::<f64>()
        / 100.0
}

fn labels(m: &Metric, i: usize) -> Labels {
    let instance = format!("host-{i:05}.example.net:9100");
    let job = format!("job-{}", i % 10);
    Labels::new([
        ("__name__", m.name),
        ("instance", instance.as_str()),
        ("job", job.as_str()),
    ])
    .expect("valid labels")
}

fn value(i: usize, k: usize) -> f64 {
    if i.is_multiple_of(2) {
        (k * (i % 7 + 1)) as f64
    } else {
        ((i * 31 + k * 17) % 10_000) as f64 / 100.0
    }
}

/// Writes `m` round by round (one sample per series per round), ending at [`end_t`].
fn ingest(db: &Tsdb, m: &Metric) {
    let sets: Vec<Labels> = (0..m.series).map(|i| labels(m, i)).collect();
    let first = end_t() - (m.points as i64 - 1) * STEP_MS;
    for k in 0..m.points {
        for part in (0..m.series).collect::<Vec<_>>().chunks(1000) {
            let samples = part
                .iter()
                .map(|&i| Sample {
                    labels: sets[i].clone(),
                    t: first + k as i64 * STEP_MS,
                    v: value(i, k),
                })
                .collect();
            db.append(&WriteBatch {
                samples,
                metadata: vec![],
            })
            .expect("append");
        }
    }
}

/// Runs `select` and `select_each` (lending each series' points, as the query engine
/// reads) `runs` times each and prints the median and fastest latency of both.
fn measure(db: &Tsdb, what: &str, m: &Metric, range: TimeRange, runs: usize) {
    let matchers = [Matcher::equal("__name__", m.name)];
    let mut found = (0, 0);
    let select = time(runs, || {
        let series = db.select(&matchers, range).expect("select");
        found = (series.len(), series.iter().map(|s| s.points.len()).sum());
    });
    let mut visited = (0, 0);
    let select_each = time(runs, || {
        visited = (0, 0);
        let mut count = each_series(|_, points| {
            visited.0 += 1;
            visited.1 += points.len();
            ControlFlow::Continue(())
        });
        db.select_each(&matchers, range, &mut count)
            .expect("select_each");
    });
    assert_eq!(found, visited, "select and select_each disagree");
    println!(
        "{what}: {} series, {} points; select median {:.2} ms, fastest {:.2} ms; \
         select_each median {:.2} ms, fastest {:.2} ms ({runs} runs)",
        found.0, found.1, select[0], select[1], select_each[0], select_each[1]
    );
}

/// The median and fastest of `runs` calls of `f`, in milliseconds.
fn time(runs: usize, mut f: impl FnMut()) -> [f64; 2] {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    [ms(times[runs / 2]), ms(times[0])]
}

fn main() {
    let runs = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7usize)
        .max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        retention: None,
        wal_sync: WalSync::Off,
        maintenance_interval: Duration::from_secs(3600),
        ..Options::default()
    };
    let db = Tsdb::open(dir.path(), options).expect("open");
    let (start, cpu, rss) = (Instant::now(), cpu_secs(), rss_mib());
    ingest(&db, &RECENT);
    ingest(&db, &DAY);
    println!(
        "ingested {} samples in {:.1} s ({:.1} CPU s); RSS {} MiB before, {} MiB after",
        RECENT.series * RECENT.points + DAY.series * DAY.points,
        start.elapsed().as_secs_f64(),
        cpu_secs() - cpu,
        rss,
        rss_mib()
    );
    let last_5m = TimeRange::new(end_t() - 5 * 60_000, end_t());
    let day = TimeRange::new(end_t() - 24 * 3_600_000, end_t());
    for source in ["head", "blocks"] {
        if source == "blocks" {
            db.flush().expect("flush");
            println!("flushed: {} blocks", db.stats().blocks);
        }
        measure(
            &db,
            &format!("(a) 10k series, last 5 min, {source}"),
            &RECENT,
            last_5m,
            runs,
        );
        measure(
            &db,
            &format!("(b) 1k series, 24 h, {source}"),
            &DAY,
            day,
            runs,
        );
    }
}
