//! Measures the store: append throughput (WAL sync on, batches of 1000 samples from two
//! threads), resident memory per head series, and discovery latency.
//!
//! `cargo run --release -p strata-tsdb --example tsdb_bench -- [series] [samples_per_series] [threads] [sync|nosync]`
//! (defaults: 1,000,000 series, 20 samples each, 2 threads, WAL sync on). Data: node-exporter-like series,
//! 100 metric names x hosts, 15 s apart; values are counters and 2-decimal gauges.

use std::time::{Duration, Instant};
use strata_core::{Appender, Labels, Matcher, Querier, Sample, TimeRange, WriteBatch};
use strata_tsdb::{Options, Tsdb, WalSync};

const METRICS: usize = 100;
const BATCH: usize = 1000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds used by this process so far (user + system), from /proc/self/stat: on a
/// shared machine wall-clock rates understate the engine, CPU time does not.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn series_labels(i: usize) -> Labels {
    let host = format!("host-{:05}.example.net:9100", i / METRICS);
    let name = format!("node_metric_{:03}_total", i % METRICS);
    Labels::new([
        ("__name__", name.as_str()),
        ("instance", host.as_str()),
        ("job", "node"),
    ])
    .unwrap()
}

fn value(i: usize, k: usize) -> f64 {
    if i.is_multiple_of(2) {
        (k * (i % 7 + 1)) as f64
    } else {
        ((i * 31 + k * 17) % 10_000) as f64 / 100.0
    }
}

/// Each thread owns a share of the series and writes them round by round, one sample
/// per series per round, in batches of BATCH samples (a scrape-like pattern).
fn ingest(
    db: &Tsdb,
    labels: &[Labels],
    threads: usize,
    rounds: std::ops::Range<usize>,
    t0: i64,
) -> (Duration, f64) {
    let start = Instant::now();
    let cpu = cpu_secs();
    std::thread::scope(|s| {
        for th in 0..threads {
            let rounds = rounds.clone();
            s.spawn(move || {
                let mine: Vec<usize> = (th..labels.len()).step_by(threads).collect();
                for k in rounds {
                    for chunk in mine.chunks(BATCH) {
                        let samples = chunk
                            .iter()
                            .map(|&i| Sample {
                                labels: labels[i].clone(),
                                t: t0 + k as i64 * 15_000,
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
            });
        }
    });
    (start.elapsed(), cpu_secs() - cpu)
}

fn report(what: &str, (elapsed, cpu): (Duration, f64), samples: usize, threads: usize, sync: bool) {
    println!(
        "{what}: {samples} samples, {threads} threads, batches of {BATCH}, WAL sync {}: {:.2} s, {:.0} samples/s; {:.2} CPU s, {:.0} samples per CPU second",
        if sync { "on" } else { "off" },
        elapsed.as_secs_f64(),
        samples as f64 / elapsed.as_secs_f64(),
        cpu,
        samples as f64 / cpu.max(0.01)
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_series = args.first().copied().unwrap_or(1_000_000);
    let per_series = args.get(1).copied().unwrap_or(20);
    let threads = args.get(2).copied().unwrap_or(2);
    let sync = !std::env::args().any(|a| a == "nosync");
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        retention: None,
        wal_sync: if sync { WalSync::Always } else { WalSync::Off },
        maintenance_interval: Duration::from_secs(3600),
        ..Options::default()
    };

    let base_rss = rss_kib();
    let labels: Vec<Labels> = (0..n_series).map(series_labels).collect();
    let labels_rss = rss_kib();
    let db = Tsdb::open(dir.path(), options).expect("open");
    let t0 = 1_700_000_000_000i64;

    // Round 0 creates every series; later rounds append to existing ones (steady state).
    let created = ingest(&db, &labels, threads, 0..1, t0);
    report("append, creating series", created, n_series, threads, sync);
    let steady = ingest(&db, &labels, threads, 1..per_series, t0);
    report(
        "append, existing series",
        steady,
        n_series * (per_series - 1),
        threads,
        sync,
    );
    let total = (n_series * per_series) as f64;
    println!(
        "WAL: {:.2} bytes/sample (series records included)",
        db.stats().wal_bytes as f64 / total
    );

    drop(labels);
    let rss = rss_kib();
    println!(
        "memory: RSS {} MiB before, {} MiB with labels built, {} MiB after ingest (labels now owned by the head): {:.0} bytes/series",
        base_rss / 1024,
        labels_rss / 1024,
        rss / 1024,
        (rss - base_rss) as f64 * 1024.0 / n_series as f64
    );

    time_reads(&db, "head");

    let start = Instant::now();
    let cpu = cpu_secs();
    db.flush().expect("flush");
    let stats = db.stats();
    println!(
        "flush: {:.2} s ({:.2} CPU s); blocks {}, {:.2} bytes/sample on disk ({} bytes)",
        start.elapsed().as_secs_f64(),
        cpu_secs() - cpu,
        stats.blocks,
        stats.block_bytes as f64 / (n_series * per_series) as f64,
        stats.block_bytes
    );
    time_reads(&db, "blocks");
    let start = Instant::now();
    drop(db);
    let db = Tsdb::open(
        dir.path(),
        Options {
            retention: None,
            ..Options::default()
        },
    )
    .expect("reopen");
    println!(
        "reopen after flush: {:.2} s, {} blocks",
        start.elapsed().as_secs_f64(),
        db.stats().blocks
    );
}

/// Times discovery and a one-metric select, reading from `place` (head or blocks).
fn time_reads(db: &Tsdb, place: &str) {
    let timed = |what: &str, f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let n = f();
        println!(
            "{what}, {place}: {n} results in {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    };
    for name in ["instance", "__name__"] {
        timed(&format!("label_values({name})"), &|| {
            db.label_values(name, &[], TimeRange::ALL).unwrap().len()
        });
    }
    timed("label_names", &|| {
        db.label_names(&[], TimeRange::ALL).unwrap().len()
    });
    timed("select one metric", &|| {
        db.select(
            &[Matcher::equal("__name__", "node_metric_007_total")],
            TimeRange::ALL,
        )
        .unwrap()
        .len()
    });
}
