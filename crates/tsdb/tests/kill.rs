//! A writer process is killed with SIGKILL at arbitrary moments; every batch it saw
//! acknowledged must be there after reopening. The test binary re-runs itself as the
//! writer (selected by an environment variable).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use strata_core::{Appender, Labels, Matcher, Querier, Sample, TimeRange, WriteBatch};
use strata_tsdb::Tsdb;

const DIR_VAR: &str = "STRATA_TSDB_KILL_DIR";
const START_VAR: &str = "STRATA_TSDB_KILL_START";
const SERIES: usize = 50;

fn series(i: usize) -> Labels {
    Labels::new([("__name__", "kill_test"), ("i", &i.to_string())]).unwrap()
}

fn batch(n: i64) -> WriteBatch {
    WriteBatch {
        samples: (0..SERIES)
            .map(|i| Sample {
                labels: series(i),
                t: n * 1000,
                v: n as f64,
            })
            .collect(),
        metadata: vec![],
    }
}

/// The writer: appends batches forever, printing each acknowledged batch number.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let start: i64 = std::env::var(START_VAR).unwrap().parse().unwrap();
    let db = Tsdb::open(dir.as_ref(), common::options()).unwrap();
    let mut out = std::io::stdout().lock();
    for n in start.. {
        db.append(&batch(n)).unwrap();
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
        if n.rem_euclid(97) == 0 {
            db.flush().unwrap();
        }
    }
}

#[test]
fn sigkill_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut next = 0i64;
    for round in 0..4 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir.path())
            .env(START_VAR, next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill after a different number of acknowledgements each round.
        let target = 150 + round * 73;
        let mut acked = None;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                let n: i64 = n.trim().parse().unwrap();
                acked = Some(n);
                if n >= next + target {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let last = acked.expect("writer acknowledged nothing");
        let db = Tsdb::open(dir.path(), common::options()).unwrap();
        let got = db
            .select(&[Matcher::equal("__name__", "kill_test")], TimeRange::ALL)
            .unwrap();
        assert_eq!(got.len(), SERIES);
        for s in &got {
            let have: std::collections::HashSet<i64> = s.points.iter().map(|p| p.t).collect();
            for n in 0..=last {
                assert!(
                    have.contains(&(n * 1000)),
                    "round {round}: batch {n} of {} lost",
                    s.labels
                );
            }
            assert!(s.points.iter().all(|p| p.v * 1000.0 == p.t as f64));
        }
        drop(db);
        next = last + 1;
    }
}
