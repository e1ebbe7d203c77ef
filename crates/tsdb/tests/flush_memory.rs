//! How much memory a flush and a compaction add: a node-exporter-like fleet (by default
//! 10,000 hosts × 103 series × 4 points: 1.03 million series) is appended and flushed,
//! twice, and the two blocks are compacted; the peak RSS of each step alone is read (the
//! kernel's high-water mark, reset just before it). A measuring tool, not a check: run
//! `cargo test --release -p strata-tsdb --test flush_memory -- --ignored --nocapture`
//! (`STRATA_FLUSH_HOSTS` sets the hosts).

mod common;

use std::time::Instant;
use strata_core::{Appender, Labels, Sample, WriteBatch};
use strata_tsdb::Tsdb;

const METRICS: usize = 103;
const POINTS: i64 = 4;

/// Series `m` of host `h`: a metric name, the host's labels and, for some metrics, a
/// label of their own (a cpu, a device), as node exporter's series have.
fn series(h: usize, m: usize) -> Labels {
    let name = format!("node_metric_{:03}_total", m / 4);
    let instance = format!("host-{h:05}:9100");
    let dc = ["eu-west-1", "us-east-1", "ap-south-1"][h % 3];
    let own = (m % 4).to_string();
    let mut pairs = vec![
        ("__name__", name.as_str()),
        ("dc", dc),
        ("instance", instance.as_str()),
        ("job", "node"),
    ];
    pairs.push(if m < 40 {
        ("cpu", own.as_str())
    } else {
        ("device", own.as_str())
    });
    Labels::new(pairs).unwrap()
}

/// `(VmRSS, VmHWM)` of this process, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Appends `POINTS` points from `t0` on to every series of `hosts` hosts.
fn append_fleet(db: &Tsdb, hosts: usize, t0: i64) {
    for h in 0..hosts {
        let host: Vec<Labels> = (0..METRICS).map(|m| series(h, m)).collect();
        let samples = (0..POINTS)
            .flat_map(|p| {
                host.iter().enumerate().map(move |(m, l)| Sample {
                    labels: l.clone(),
                    t: t0 + p * 15_000,
                    v: (h * m) as f64 + p as f64 * 0.25,
                })
            })
            .collect();
        db.append(&WriteBatch {
            samples,
            metadata: vec![],
        })
        .unwrap();
    }
}

/// Runs `f` and prints the peak RSS it adds over the RSS before it, and its time.
fn measure(what: &str, base_kib: u64, f: impl FnOnce()) {
    let (before, _) = rss_kib();
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let start = Instant::now();
    f();
    let secs = start.elapsed().as_secs_f64();
    let (after, peak) = rss_kib();
    let held = before.saturating_sub(base_kib);
    println!(
        "{what}: RSS before {before} KiB ({held} KiB over the empty store), peak {peak} KiB = \
         before + {} KiB ({:.1} % of {held}), after {after} KiB, {secs:.2} s",
        peak.saturating_sub(before),
        100.0 * peak.saturating_sub(before) as f64 / held.max(1) as f64,
    );
}

#[test]
#[ignore = "a measuring tool: prints the peak memory of a flush and of a compaction"]
fn flush_and_compaction_peaks() {
    let hosts: usize = std::env::var("STRATA_FLUSH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), common::options()).unwrap();
    let (empty, _) = rss_kib();
    // The start of a 12 h window: both flushes below write a block into it.
    let t0 = 1_700_006_400_000i64;
    append_fleet(&db, hosts, t0);
    println!("{} series, {} samples each", hosts * METRICS, POINTS);
    measure("flush of the head", empty, || db.flush().unwrap());
    append_fleet(&db, hosts, t0 + 60_000);
    db.flush().unwrap();
    // A sample past the window closes it for compaction.
    let late = WriteBatch {
        samples: vec![Sample {
            labels: series(0, 0),
            t: t0 + 13 * 3_600_000,
            v: 1.0,
        }],
        metadata: vec![],
    };
    db.append(&late).unwrap();
    db.flush().unwrap();
    measure("compaction of two blocks", empty, || {
        assert!(db.compact().unwrap() >= 1);
    });
    let stats = db.stats();
    println!(
        "blocks {}, {} samples, {} bytes",
        stats.blocks, stats.block_samples, stats.block_bytes
    );
}
