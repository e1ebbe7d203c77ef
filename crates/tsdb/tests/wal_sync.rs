//! How many synced group commits the WAL does per second on this disk: one writer
//! (every write its own fdatasync) with small and request-sized frames, then four
//! writers sharing syncs. A measuring tool, not a check: run it with
//! `cargo test --release -p strata-tsdb --test wal_sync -- --ignored --nocapture`
//! (`STRATA_WAL_BENCH_WRITES`, default 2000, sets the writes per run).

use std::time::Instant;
use strata_tsdb::wal::{frame, Wal};
use strata_tsdb::WalSync;

/// Writes `writes` frames of `frame_bytes` from `threads` writers; returns writes/s and MB/s.
fn run(threads: usize, writes: usize, frame_bytes: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalSync::Always).unwrap();
    let payload: Vec<u8> = (0..frame_bytes - 8).map(|i| (i * 31 % 251) as u8).collect();
    let mut framed = Vec::new();
    frame(&mut framed, &payload);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..writes / threads {
                    wal.write(&framed).unwrap();
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let done = (writes / threads * threads) as f64;
    (done / secs, done * frame_bytes as f64 / secs / 1e6)
}

#[test]
#[ignore = "a measuring tool: prints syncs per second"]
fn wal_group_commits_per_second() {
    let writes: usize = std::env::var("STRATA_WAL_BENCH_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for (threads, bytes) in [(1, 4 << 10), (1, 40 << 10), (4, 40 << 10)] {
        let (per_s, mb_s) = run(threads, writes, bytes);
        println!(
            "writers {threads}, frame {:>2} KiB: {per_s:>7.0} writes/s, {mb_s:>6.1} MB/s",
            bytes >> 10
        );
    }
}
