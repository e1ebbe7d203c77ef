//! How much memory a flush adds over the head: a node-exporter-like fleet (by default
//! 10,000 hosts × 103 series × 4 points: 1.03 million series) is appended, then the
//! peak RSS of the flush alone is read (the kernel's high-water mark, reset just before
//! it). A measuring tool, not a check: run it with
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

#[test]
#[ignore = "a measuring tool: prints the flush's peak memory"]
fn flush_peak_over_the_head() {
    let hosts: usize = std::env::var("STRATA_FLUSH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), common::options()).unwrap();
    let (empty, _) = rss_kib();
    let t0 = 1_700_000_000_000i64;
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
    let (head, ingest_peak) = rss_kib();
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let start = Instant::now();
    db.flush().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let (after, flush_peak) = rss_kib();
    let stats = db.stats();
    println!(
        "series {}, samples {}: RSS empty {empty} KiB, with the head {head} KiB (ingest peak {ingest_peak}); \
         flush peak {flush_peak} KiB = head + {} KiB ({:.1} % of the head's {} KiB); after {after} KiB; \
         flush {secs:.2} s; blocks {} bytes",
        hosts * METRICS,
        stats.block_samples,
        flush_peak.saturating_sub(head),
        100.0 * flush_peak.saturating_sub(head) as f64 / head.saturating_sub(empty) as f64,
        head.saturating_sub(empty),
        stats.block_bytes,
    );
}
