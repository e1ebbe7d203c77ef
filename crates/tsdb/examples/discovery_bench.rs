//! Measures discovery at a million series (issue 3): label names, the values of a label
//! with 10,000 values and of one with a value per series, the series of one host, and a
//! regex over a million values, first from the head and then from blocks. Then it
//! times the creation of new series while regexes over those million values run, which
//! is what holding the head index's lock during a scan used to delay.
//!
//! `cargo run --release -p strata-tsdb --example discovery_bench -- [series]` (default
//! 1,000,000: 10,000 hosts × 100 metrics, each series with a unique `id`). Each figure
//! is the median of 5 runs, after one warm-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strata_core::{Appender, Labels, MatchOp, Matcher, Querier, Sample, TimeRange, WriteBatch};
use strata_tsdb::{Options, Tsdb, WalSync};

const METRICS: usize = 100;
const T0: i64 = 1_700_000_000_000;

fn labels(i: usize) -> Labels {
    Labels::new([
        ("__name__", format!("node_metric_{:02}", i % METRICS)),
        ("instance", format!("host-{:05}:9100", i / METRICS)),
        ("job", "node".to_owned()),
        ("id", format!("{i:07}")),
    ])
    .expect("valid labels")
}

fn load(db: &Tsdb, series: std::ops::Range<usize>, t: i64) {
    let all: Vec<usize> = series.collect();
    for chunk in all.chunks(10_000) {
        let samples = chunk
            .iter()
            .map(|&i| Sample {
                labels: labels(i),
                t,
                v: i as f64,
            })
            .collect();
        db.append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .expect("append");
    }
}

/// The median of 5 timed runs of `f` after a warm-up, and what it found.
fn time(what: &str, mut f: impl FnMut() -> usize) {
    let found = f();
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let began = Instant::now();
            f();
            began.elapsed()
        })
        .collect();
    runs.sort();
    println!(
        "  {what}: {found} in {:.2} ms (fastest {:.2})",
        runs[2].as_secs_f64() * 1e3,
        runs[0].as_secs_f64() * 1e3
    );
}

fn discovery(db: &Tsdb) {
    let all = TimeRange::ALL;
    let regex = Matcher::new(MatchOp::Regex, "id", ".*77").expect("valid regex");
    let prefix = Matcher::new(MatchOp::Regex, "id", "00012.*").expect("valid regex");
    let host = Matcher::equal("instance", "host-00042:9100");
    time("label names", || db.label_names(&[], all).unwrap().len());
    time("label values of instance", || {
        db.label_values("instance", &[], all).unwrap().len()
    });
    time("label values of id (one per series)", || {
        db.label_values("id", &[], all).unwrap().len()
    });
    time("label values of __name__ for one host", || {
        db.label_values("__name__", std::slice::from_ref(&host), all)
            .unwrap()
            .len()
    });
    time("series of one host", || {
        db.series(std::slice::from_ref(&host), all).unwrap().len()
    });
    time("series with id=~\".*77\"", || {
        db.series(std::slice::from_ref(&regex), all).unwrap().len()
    });
    time("series with id=~\"00012.*\"", || {
        db.series(std::slice::from_ref(&prefix), all).unwrap().len()
    });
}

/// Creates series one at a time while another thread selects by a regex over every
/// `id`, and reports the slowest creation.
fn creation_during_scans(db: &Tsdb, first: usize) {
    let stop = AtomicBool::new(false);
    let regex = Matcher::new(MatchOp::Regex, "id", ".*77").expect("valid regex");
    std::thread::scope(|s| {
        let scans = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                db.series(std::slice::from_ref(&regex), TimeRange::ALL)
                    .unwrap();
                n += 1;
            }
            n
        });
        let mut worst = Duration::ZERO;
        let mut total = Duration::ZERO;
        let count = 200;
        for i in first..first + count {
            let began = Instant::now();
            load(db, i..i + 1, T0 + 60_000);
            let took = began.elapsed();
            worst = worst.max(took);
            total += took;
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        let scans = scans.join().expect("scan thread");
        println!(
            "  {count} new series during {scans} regex scans: mean {:.3} ms, slowest {:.3} ms",
            total.as_secs_f64() * 1e3 / count as f64,
            worst.as_secs_f64() * 1e3
        );
    });
}

fn main() {
    let series: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        wal_sync: WalSync::Off,
        retention: None,
        maintenance_interval: Duration::from_secs(3600),
        ..Options::default()
    };
    let db = Tsdb::open(dir.path(), opts).expect("open");
    let began = Instant::now();
    load(&db, 0..series, T0);
    println!(
        "{series} series loaded in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    println!("head:");
    discovery(&db);
    creation_during_scans(&db, series);
    db.flush().expect("flush");
    println!("blocks:");
    discovery(&db);
}
