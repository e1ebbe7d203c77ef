//! Durability end to end (issue 3, part 1): clients ingest while the server is killed
//! with SIGKILL at random moments; after each restart on the same data directory, every
//! sample of every acknowledged (200) request must be there with its value.

mod common;

use common::{client, StrataProcess};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENTS: usize = 4;
const ROUNDS: usize = 20;
const SAMPLES_PER_REQUEST: u64 = 25;

/// A small deterministic generator, seeded per run and printed so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The sample with sequence number `seq` (of any client): its series shard, time and value.
fn sample(base_ms: i64, seq: u64) -> (u64, i64, f64) {
    (seq % 3, base_ms + seq as i64 * 10, seq as f64)
}

/// One client: posts requests of consecutive samples until `stop`, recording the
/// sequence numbers of every acknowledged request. Returns the next unused sequence number.
fn run_client(
    url: String,
    c: usize,
    base_ms: i64,
    mut seq: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(usize, u64)>>>,
) -> u64 {
    let http = client();
    while !stop.load(Ordering::Relaxed) {
        let mut body = String::new();
        let first = seq;
        for s in first..first + SAMPLES_PER_REQUEST {
            let (shard, t, v) = sample(base_ms, s);
            let _ = writeln!(
                body,
                "kill_test{{client=\"{c}\",shard=\"{shard}\"}} {v} {t}"
            );
        }
        seq += SAMPLES_PER_REQUEST;
        let response = http
            .post(format!("{url}/api/v1/import/prometheus"))
            .body(body)
            .send();
        if response.is_ok_and(|r| r.status().as_u16() == 200) {
            acked
                .lock()
                .unwrap()
                .extend((first..first + SAMPLES_PER_REQUEST).map(|s| (c, s)));
        }
    }
    seq
}

/// Every acknowledged sample must be stored with its value.
fn check_acknowledged(strata: &StrataProcess, base_ms: i64, acked: &[(usize, u64)], round: usize) {
    let mut stored: HashMap<(String, String, i64), f64> = HashMap::new();
    for (labels, points) in strata.export("kill_test") {
        let c = labels["client"].as_str().unwrap().to_owned();
        let shard = labels["shard"].as_str().unwrap().to_owned();
        for (t, v) in points {
            stored.insert((c.clone(), shard.clone(), t), v);
        }
    }
    let missing: Vec<_> = acked
        .iter()
        .filter(|&&(c, s)| {
            let (shard, t, v) = sample(base_ms, s);
            stored.get(&(c.to_string(), shard.to_string(), t)) != Some(&v)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "round {round}: {} of {} acknowledged samples lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn acknowledged_samples_survive_sigkill() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill test seed {seed}");
    let mut rng = XorShift(seed);
    let base_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    let mut strata = StrataProcess::start(&["--statsd-addr", "off"]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut next_seq = vec![0u64; CLIENTS];

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, stop, acked) = (strata.http_url(), Arc::clone(&stop), Arc::clone(&acked));
                let seq = next_seq[c];
                std::thread::spawn(move || run_client(url, c, base_ms, seq, stop, acked))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        strata.kill9();
        stop.store(true, Ordering::Relaxed);
        for (c, handle) in clients.into_iter().enumerate() {
            next_seq[c] = handle.join().expect("client thread");
        }
        strata.restart();
        check_acknowledged(&strata, base_ms, &acked.lock().unwrap(), round);
    }
    let total = acked.lock().unwrap().len();
    assert!(total > 0, "no request was acknowledged at all");
    println!("{total} acknowledged samples over {ROUNDS} kills, none lost");
}
