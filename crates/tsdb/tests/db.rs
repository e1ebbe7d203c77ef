//! End-to-end behaviour of the store: restart, out-of-order data, dedup, blocks,
//! compaction, retention, limits.

mod common;

use common::{batch, labels, options};
use std::time::Duration;
use strata_core::{
    Appender, MatchOp, Matcher, MetricMetadata, MetricType, Point, Querier, StorageError,
    TimeRange, WriteBatch,
};
use strata_tsdb::{Options, Tsdb};

fn points(db: &Tsdb, job: &str) -> Vec<(i64, f64)> {
    let got = db
        .select(&[Matcher::equal("job", job)], TimeRange::ALL)
        .unwrap();
    assert!(got.len() <= 1);
    got.into_iter()
        .flat_map(|s| s.points)
        .map(|p: Point| (p.t, p.v))
        .collect()
}

#[test]
fn restart_without_flush_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("up", "a");
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        for t in 0..100 {
            db.append(&batch(&[(&a, t * 1000, t as f64)])).unwrap();
        }
        let mut md = WriteBatch::default();
        md.metadata.push(MetricMetadata {
            metric: "up".into(),
            kind: MetricType::Gauge,
            help: "1 if up".into(),
            unit: String::new(),
        });
        db.append(&md).unwrap();
        // Dropped without flush or close.
    }
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let pts = points(&db, "a");
    assert_eq!(pts.len(), 100);
    assert_eq!(pts[99], (99_000, 99.0));
    assert_eq!(db.metadata(Some("up")).unwrap()[0].help, "1 if up");
    assert_eq!(db.stats().head_series, 1);
}

#[test]
fn out_of_order_backfill_and_last_write_wins_across_head_blocks_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("m", "a");
    let db = Tsdb::open(dir.path(), options()).unwrap();
    db.append(&batch(&[
        (&a, 10_000, 1.0),
        (&a, 20_000, 2.0),
        (&a, 30_000, 3.0),
    ]))
    .unwrap();
    // Out of order, backfill far in the past, and rewrites within one batch.
    db.append(&batch(&[
        (&a, 15_000, 1.5),
        (&a, -86_400_000, 9.0),
        (&a, 20_000, 2.1),
        (&a, 20_000, 2.2),
    ]))
    .unwrap();
    let want = vec![
        (-86_400_000, 9.0),
        (10_000, 1.0),
        (15_000, 1.5),
        (20_000, 2.2),
        (30_000, 3.0),
    ];
    assert_eq!(points(&db, "a"), want);
    db.flush().unwrap();
    assert_eq!(points(&db, "a"), want);
    assert!(db.stats().blocks >= 2, "backfill lands in its own block");
    // Overwrite data that is now in a block, from the head.
    db.append(&batch(&[(&a, 10_000, 1.9), (&a, 40_000, 4.0)]))
        .unwrap();
    let want = vec![
        (-86_400_000, 9.0),
        (10_000, 1.9),
        (15_000, 1.5),
        (20_000, 2.2),
        (30_000, 3.0),
        (40_000, 4.0),
    ];
    assert_eq!(points(&db, "a"), want);
    drop(db);
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(points(&db, "a"), want);
    // And once more through a second block overlapping the first.
    db.flush().unwrap();
    assert_eq!(points(&db, "a"), want);
    db.compact().unwrap();
    assert_eq!(points(&db, "a"), want);
    drop(db);
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(points(&db, "a"), want);
    assert_eq!(db.stats().head_samples, 0);
}

#[test]
fn compaction_merges_closed_windows_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration: Duration::from_secs(3600),
        ..options()
    };
    let db = Tsdb::open(dir.path(), opts.clone()).unwrap();
    let hour = 3_600_000i64;
    let series: Vec<_> = (0..20).map(|i| labels("c", &format!("j{i}"))).collect();
    // 14 hours of data, cut once per hour: 14 level-0 blocks.
    for h in 0..14 {
        let mut samples = Vec::new();
        for l in &series {
            for k in 0..60 {
                samples.push((l, h * hour + k * 60_000, (h * 60 + k) as f64));
            }
        }
        db.append(&batch(&samples)).unwrap();
        db.flush().unwrap();
    }
    assert_eq!(db.stats().blocks, 14);
    let merged = db.compact().unwrap();
    assert!(merged >= 2, "merged {merged}");
    let stats = db.stats();
    assert!(stats.blocks < 14, "{stats:?}");
    assert_eq!(stats.block_samples, 20 * 14 * 60);
    assert!(stats.compactions >= 2);
    for l in &series[..3] {
        let got = db
            .select(
                &[Matcher::equal("job", l.get("job").unwrap())],
                TimeRange::ALL,
            )
            .unwrap();
        assert_eq!(got[0].points.len(), 14 * 60);
        assert!(got[0].points.windows(2).all(|w| w[0].t < w[1].t));
    }
    drop(db);
    let db = Tsdb::open(dir.path(), opts).unwrap();
    assert_eq!(db.stats().block_samples, 20 * 14 * 60);
}

#[test]
fn retention_drops_whole_old_blocks_and_refuses_expired_samples() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 86_400_000i64;
    let a = labels("r", "a");
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        db.append(&batch(&[(&a, now - 10 * day, 1.0), (&a, now - 1000, 2.0)]))
            .unwrap();
        db.flush().unwrap();
        assert_eq!(db.stats().blocks, 2);
    }
    let opts = Options {
        retention: Some(Duration::from_secs(5 * 86_400)),
        ..options()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    assert_eq!(db.apply_retention().unwrap(), 1);
    assert_eq!(points(&db, "a"), vec![(now - 1000, 2.0)]);
    assert_eq!(db.stats().blocks_dropped_by_retention, 1);
    let err = db.append(&batch(&[(&a, now - 6 * day, 1.0)])).unwrap_err();
    assert!(matches!(err, StorageError::OutOfRetention(_)), "{err}");
}

#[test]
fn series_limit_gives_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_head_series: 2,
        ..options()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    let (a, b, c) = (labels("x", "a"), labels("x", "b"), labels("x", "c"));
    db.append(&batch(&[(&a, 1, 1.0), (&b, 1, 1.0)])).unwrap();
    match db.append(&batch(&[(&c, 1, 1.0)])) {
        Err(StorageError::Backpressure { retry_after, .. }) => {
            assert!(retry_after > Duration::ZERO)
        }
        other => panic!("expected backpressure, got {other:?}"),
    }
    db.append(&batch(&[(&a, 2, 1.0)])).unwrap();
}

#[test]
fn discovery_and_matchers_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let (a, b) = (labels("up", "a"), labels("down", "b"));
    let env =
        strata_core::Labels::new([("__name__", "up"), ("job", "c"), ("env", "prod")]).unwrap();
    db.append(&batch(&[(&a, 1000, 1.0), (&env, 1000, 1.0)]))
        .unwrap();
    db.flush().unwrap();
    db.append(&batch(&[(&b, 5000, 1.0)])).unwrap();
    assert_eq!(
        db.label_values("job", &[], TimeRange::ALL).unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(
        db.label_names(&[], TimeRange::ALL).unwrap(),
        ["__name__", "env", "job"]
    );
    assert_eq!(
        db.label_values("__name__", &[], TimeRange::new(0, 2000))
            .unwrap(),
        ["up"]
    );
    let no_env = [Matcher::equal("__name__", "up"), Matcher::equal("env", "")];
    assert_eq!(db.series(&no_env, TimeRange::ALL).unwrap(), vec![a.clone()]);
    let not_a = [Matcher::new(MatchOp::NotRegex, "job", "a|c").unwrap()];
    assert_eq!(db.series(&not_a, TimeRange::ALL).unwrap(), vec![b.clone()]);
    let names = [Matcher::new(MatchOp::Regex, "__name__", "up|down").unwrap()];
    assert_eq!(db.series(&names, TimeRange::ALL).unwrap().len(), 3);
    assert_eq!(
        db.label_values("job", &names[..], TimeRange::new(0, 2000))
            .unwrap(),
        ["a", "c"]
    );
}

#[test]
fn torn_wal_tail_is_cut_counted_and_earlier_batches_survive() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("w", "a");
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        for t in 0..10 {
            db.append(&batch(&[(&a, t, t as f64)])).unwrap();
        }
    }
    // Tear the last record of the newest non-empty segment.
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 2)
        .unwrap();

    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().wal_corruptions_repaired, 1);
    let pts = points(&db, "a");
    assert_eq!(pts, (0..9).map(|t| (t, t as f64)).collect::<Vec<_>>());
    // The store keeps working, and a second restart finds nothing to repair.
    db.append(&batch(&[(&a, 100, 1.0)])).unwrap();
    drop(db);
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().wal_corruptions_repaired, 0);
    assert_eq!(points(&db, "a").len(), 10);
}

#[test]
fn background_thread_cuts_the_head_and_checkpoints_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration: Duration::from_secs(1),
        maintenance_interval: Duration::from_millis(20),
        ..options()
    };
    let db = Tsdb::open(dir.path(), opts.clone()).unwrap();
    let a = labels("bg", "a");
    db.append(&batch(&[(&a, 1, 1.0), (&a, 2, 2.0)])).unwrap();
    // Generous deadline: this waits for the background work, it does not time it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.stats().head_cuts == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no cut: {:?}",
            db.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = db.stats();
    assert!(stats.blocks >= 1, "{stats:?}");
    assert_eq!(points(&db, "a"), vec![(1, 1.0), (2, 2.0)]);
    drop(db);
    let db = Tsdb::open(dir.path(), opts).unwrap();
    assert_eq!(points(&db, "a"), vec![(1, 1.0), (2, 2.0)]);
    assert_eq!(
        db.stats().head_samples,
        0,
        "replayed samples that are already in blocks"
    );
}

#[test]
fn tsdb_is_send_and_sync() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Tsdb>();
}

#[test]
fn a_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let err = Tsdb::open(dir.path(), options())
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(db);
    Tsdb::open(dir.path(), options()).unwrap();
}

#[test]
fn extreme_timestamps_survive_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let a = labels("x", "a");
    let want = vec![(i64::MIN, 1.0), (-1, 2.0), (0, 3.0), (i64::MAX, 4.0)];
    let samples: Vec<_> = want.iter().map(|&(t, v)| (&a, t, v)).collect();
    db.append(&batch(&samples)).unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    assert_eq!(points(&db, "a"), want);
}

#[test]
fn leftovers_of_interrupted_writes_and_deletes_are_cleaned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("l", "a");
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        db.append(&batch(&[(&a, 1, 1.0)])).unwrap();
        db.flush().unwrap();
    }
    let blocks = dir.path().join("blocks");
    // A half-written block, and a half-deleted one (its index already gone).
    std::fs::create_dir(blocks.join("00000000000000000077.tmp")).unwrap();
    std::fs::create_dir(blocks.join("00000000000000000078.deleted")).unwrap();
    std::fs::write(blocks.join("00000000000000000078.deleted/chunks"), b"x").unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(points(&db, "a"), vec![(1, 1.0)]);
    let left: Vec<_> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// Bytes of every file in the store's WAL directory (segments and checkpoints).
fn wal_dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn a_flush_leaves_almost_no_wal_and_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<_> = (0..500).map(|i| labels("w", &format!("job{i}"))).collect();
    let mut md = WriteBatch::default();
    md.metadata.push(MetricMetadata {
        metric: "w".into(),
        kind: MetricType::Counter,
        help: "a counter".into(),
        unit: String::new(),
    });
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        db.append(&md).unwrap();
        for t in 0..20 {
            let samples: Vec<_> = series.iter().map(|l| (l, t * 15_000, t as f64)).collect();
            db.append(&batch(&samples)).unwrap();
        }
        assert!(wal_dir_bytes(dir.path()) > 20_000);
        db.flush().unwrap();
        let stats = db.stats();
        assert_eq!(stats.head_series, 0, "{stats:?}");
        assert_eq!(stats.wal_bytes, 0, "{stats:?}");
        // The checkpoint holds the metadata only.
        assert!(
            wal_dir_bytes(dir.path()) < 100,
            "{}",
            wal_dir_bytes(dir.path())
        );
    }
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().head_series, 0);
    assert_eq!(db.stats().head_samples, 0);
    assert_eq!(db.metadata(Some("w")).unwrap()[0].help, "a counter");
    for i in [0, 17, 499] {
        let pts = points(&db, &format!("job{i}"));
        assert_eq!(pts.len(), 20);
        assert_eq!(pts[19], (19 * 15_000, 19.0));
    }
}

/// Series dropped by a flush come back under fresh ids; restarts (which restart the id
/// counter from the ids still in the WAL) must never attach samples to the wrong series.
#[test]
fn series_dropped_by_a_flush_come_back_correctly_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["a", "b", "c", "d", "e"];
    let l: Vec<_> = names.iter().map(|j| labels("r", j)).collect();
    let mut want: Vec<Vec<(i64, f64)>> = vec![Vec::new(); names.len()];
    // Each round writes some series, then flushes, restarts without flushing, or both.
    let rounds: [(&[usize], bool, bool); 6] = [
        (&[0, 1], true, false),
        (&[1, 2], false, true),
        (&[3], true, true),
        (&[4, 0], false, true),
        (&[2, 3, 4], true, false),
        (&[1, 0], false, true),
    ];
    let mut db = Tsdb::open(dir.path(), options()).unwrap();
    for (round, (which, flush, restart)) in rounds.iter().enumerate() {
        for &i in *which {
            let t = round as i64 * 1000 + i as i64;
            let v = (round * 10 + i) as f64;
            db.append(&batch(&[(&l[i], t, v)])).unwrap();
            want[i].push((t, v));
        }
        if *flush {
            db.flush().unwrap();
        }
        if *restart {
            drop(db);
            db = Tsdb::open(dir.path(), options()).unwrap();
        }
        for (i, job) in names.iter().enumerate() {
            assert_eq!(points(&db, job), want[i], "round {round}, series {job}");
        }
    }
    assert_eq!(db.stats().wal_replay_unknown_series, 0);
}

/// The block directories of the store, in name order.
fn block_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn a_damaged_block_is_quarantined_and_the_rest_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (labels("q", "a"), labels("q", "b"), labels("q", "c"));
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        db.append(&batch(&[(&a, 1_000, 1.0)])).unwrap();
        db.flush().unwrap();
        db.append(&batch(&[(&b, 2_000, 2.0)])).unwrap();
        db.flush().unwrap();
        db.append(&batch(&[(&c, 3_000, 3.0)])).unwrap();
        db.flush().unwrap();
    }
    let blocks = block_dirs(dir.path());
    assert_eq!(blocks.len(), 3);
    // One block with a flipped byte in its series table, one missing its postings.
    let series = blocks[0].join("series");
    let mut bytes = std::fs::read(&series).unwrap();
    bytes[0] ^= 0x40;
    std::fs::write(&series, bytes).unwrap();
    std::fs::remove_file(blocks[2].join("postings")).unwrap();

    let db = Tsdb::open(dir.path(), options()).unwrap();
    let stats = db.stats();
    assert_eq!(stats.blocks_quarantined, 2, "{stats:?}");
    assert_eq!(stats.blocks, 1, "{stats:?}");
    assert_eq!(points(&db, "b"), vec![(2_000, 2.0)]);
    assert!(points(&db, "a").is_empty());
    let mut moved: Vec<_> = std::fs::read_dir(dir.path().join("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    moved.sort();
    let names: Vec<_> = [&blocks[0], &blocks[2]]
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(moved, names);
    // New blocks never take a quarantined block's name.
    db.append(&batch(&[(&a, 4_000, 4.0)])).unwrap();
    db.flush().unwrap();
    drop(db);
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(db.stats().blocks_quarantined, 0);
    assert_eq!(db.stats().blocks, 2);
    assert_eq!(points(&db, "a"), vec![(4_000, 4.0)]);
    assert_eq!(points(&db, "b"), vec![(2_000, 2.0)]);
}

#[test]
fn a_block_of_an_unknown_format_version_fails_the_open_clearly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        db.append(&batch(&[(&labels("v", "a"), 1, 1.0)])).unwrap();
        db.flush().unwrap();
    }
    let meta_path = block_dirs(dir.path())[0].join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["version"] = 99.into();
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let err = Tsdb::open(dir.path(), options()).err().expect("must fail");
    assert!(err.to_string().contains("format version 99"), "{err}");
    assert!(!dir.path().join("quarantine").exists());
}

#[test]
fn a_cut_splits_blocks_only_at_first_level_compaction_windows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    let hour = 3_600_000i64;
    let a = labels("s", "a");
    // Across the 2 h boundary at 2 h: one block.
    let samples: Vec<_> = (0..480)
        .map(|k| (&a, hour + k * 15_000, k as f64))
        .collect();
    db.append(&batch(&samples)).unwrap();
    db.flush().unwrap();
    let stats = db.stats();
    assert_eq!((stats.blocks, stats.block_samples), (1, 480), "{stats:?}");
    let got = db
        .select(
            &[Matcher::equal("job", "a")],
            TimeRange::new(2 * hour, 3 * hour),
        )
        .unwrap();
    assert_eq!(got[0].points.len(), 240);
    // Across the 12 h boundary (a first-level compaction window): two blocks.
    let samples: Vec<_> = (0..480)
        .map(|k| (&a, 11 * hour + k * 15_000, k as f64))
        .collect();
    db.append(&batch(&samples)).unwrap();
    db.flush().unwrap();
    assert_eq!(db.stats().blocks, 3);
    assert_eq!(points(&db, "a").len(), 960);
}
