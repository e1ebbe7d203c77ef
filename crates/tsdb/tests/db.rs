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
