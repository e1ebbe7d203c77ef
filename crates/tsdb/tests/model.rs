//! Random append sequences (any order, duplicates, flushes, restarts) read back exactly
//! like the reference `MemStorage`, through `select` with random matchers and ranges.

mod common;

use proptest::prelude::*;
use std::time::Duration;
use strata_core::{
    Appender, Labels, MatchOp, Matcher, MemStorage, Querier, Sample, TimeRange, WriteBatch,
};
use strata_tsdb::Options;
use strata_tsdb::Tsdb;

/// Small blocks so that random data spans several blocks and compaction windows.
fn options() -> Options {
    Options {
        block_duration: Duration::from_secs(10),
        ..common::options()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(usize, i64, f64)>),
    Flush,
    Compact,
    Reopen,
}

const JOBS: [&str; 3] = ["a", "b", "c"];
const NAMES: [&str; 2] = ["up", "req"];

fn series_labels(i: usize) -> Labels {
    let mut pairs = vec![("__name__", NAMES[i % 2]), ("job", JOBS[(i / 2) % 3])];
    if i.is_multiple_of(4) {
        pairs.push(("env", "prod"));
    }
    Labels::new(pairs).unwrap()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec((0usize..12, -50i64..50, -5i32..5), 1..20)
            .prop_map(|v| Op::Append(v.into_iter().map(|(s, t, v)| (s, t * 1000, f64::from(v) / 4.0)).collect())),
        // A long in-order run, so that head series seal full chunks.
        1 => (0usize..12, -50i64..0, 200usize..600)
            .prop_map(|(s, t0, n)| Op::Append((0..n).map(|k| (s, t0 * 1000 + k as i64 * 100, (k % 7) as f64)).collect())),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn matcher() -> impl Strategy<Value = Vec<Matcher>> {
    let one = prop_oneof![
        (0usize..3).prop_map(|j| Matcher::equal("job", JOBS[j])),
        (0usize..3).prop_map(|j| Matcher::new(MatchOp::NotEqual, "job", JOBS[j]).unwrap()),
        Just(Matcher::new(MatchOp::Regex, "job", "a|c").unwrap()),
        Just(Matcher::new(MatchOp::NotRegex, "__name__", "u.*").unwrap()),
        Just(Matcher::equal("env", "")),
        Just(Matcher::new(MatchOp::NotEqual, "env", "").unwrap()),
        Just(Matcher::new(MatchOp::Regex, "env", "prod|").unwrap()),
        (0usize..2).prop_map(|n| Matcher::equal("__name__", NAMES[n])),
    ];
    proptest::collection::vec(one, 0..3)
}

fn check(
    db: &Tsdb,
    model: &MemStorage,
    matchers: &[Matcher],
    range: TimeRange,
) -> Result<(), TestCaseError> {
    let got = db.select(matchers, range).unwrap();
    let want = model.select(matchers, range).unwrap();
    prop_assert_eq!(&got, &want, "select {:?} {:?}", matchers, range);
    prop_assert_eq!(
        db.series(matchers, range).unwrap(),
        model.series(matchers, range).unwrap()
    );
    if !matchers.is_empty() {
        prop_assert_eq!(
            db.label_values("job", matchers, range).unwrap(),
            model.label_values("job", matchers, range).unwrap()
        );
    }
    prop_assert_eq!(
        db.label_values("job", &[], TimeRange::ALL).unwrap(),
        model.label_values("job", &[], TimeRange::ALL).unwrap()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..25),
                           queries in proptest::collection::vec((matcher(), -60i64..60, 0i64..120), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Tsdb::open(dir.path(), options()).unwrap();
        let model = MemStorage::new();
        for op in ops {
            match op {
                Op::Append(samples) => {
                    let batch = WriteBatch {
                        samples: samples.iter().map(|&(s, t, v)| Sample { labels: series_labels(s), t, v }).collect(),
                        metadata: vec![],
                    };
                    db.append(&batch).unwrap();
                    model.append(&batch).unwrap();
                }
                Op::Flush => db.flush().unwrap(),
                Op::Compact => { db.compact().unwrap(); }
                Op::Reopen => {
                    drop(db);
                    db = Tsdb::open(dir.path(), options()).unwrap();
                }
            }
        }
        for (matchers, start, len) in &queries {
            let range = TimeRange::new(start * 1000, (start + len) * 1000);
            check(&db, &model, matchers, range)?;
            check(&db, &model, matchers, TimeRange::ALL)?;
        }
        drop(db);
        let db = Tsdb::open(dir.path(), options()).unwrap();
        for (matchers, _, _) in &queries {
            check(&db, &model, matchers, TimeRange::ALL)?;
        }
    }
}
