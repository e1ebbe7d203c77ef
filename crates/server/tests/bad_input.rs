//! Property test through the real binary: random and mutated bodies, with any
//! Content-Encoding, to every ingest endpoint get a clear 2xx/4xx answer in the one
//! JSON shape, never a 5xx, and the server stays up.

mod common;

use common::{fixture, StrataProcess};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const ENDPOINTS: [&str; 5] = [
    "/api/v1/internal/metrics/prometheus",
    "/api/v1/import/prometheus",
    "/api/v1/internal/metrics/custom",
    "/api/v1/internal/metrics/events",
    "/api/v1/internal/metrics/batch",
];
const ENCODINGS: [Option<&str>; 6] = [
    None,
    Some("gzip"),
    Some("zstd"),
    Some("snappy"),
    Some("identity"),
    Some("x-unknown"),
];

/// A valid body of some format, to mutate.
fn seed(i: usize) -> Vec<u8> {
    let name = [
        "spec_prometheus.txt",
        "spec_custom.json",
        "spec_event.json",
        "spec_statsd.txt",
    ][i % 4];
    fixture(name)
}

/// Flips, inserts and deletes bytes of `body` at the given positions.
fn mutate(mut body: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, byte, op) in edits {
        if body.is_empty() {
            body.push(byte);
            continue;
        }
        let pos = pos % body.len();
        match op % 3 {
            0 => body[pos] ^= byte | 1,
            1 => body.insert(pos, byte),
            _ => {
                body.remove(pos);
            }
        }
    }
    body
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (
            0usize..4,
            proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
        )
            .prop_map(|(i, edits)| mutate(seed(i), &edits)),
    ]
}

#[test]
fn any_body_gets_a_clear_answer() {
    // One server for every case: starting one per case would dominate the run.
    let strata = StrataProcess::start(&["--max-body-size", "64KiB"]);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let cases = (0..ENDPOINTS.len(), 0..ENCODINGS.len(), body_strategy());
    let outcome = runner.run(&cases, |(endpoint, encoding, body)| {
        let headers: Vec<(&str, &str)> = ENCODINGS[encoding]
            .map(|e| ("content-encoding", e))
            .into_iter()
            .collect();
        let answer = strata.post(ENDPOINTS[endpoint], &headers, body);
        prop_assert!(
            matches!(answer.status, 200 | 400 | 413 | 415),
            "{} {:?}: {} {}",
            ENDPOINTS[endpoint],
            ENCODINGS[encoding],
            answer.status,
            answer.text
        );
        let status = answer.json["status"].as_str().unwrap_or_default();
        prop_assert!(
            ["success", "partial", "error"].contains(&status),
            "{}",
            answer.text
        );
        if answer.status != 200 {
            prop_assert!(!answer.json["error"].as_str().unwrap_or_default().is_empty());
        }
        prop_assert_eq!(strata.get("/-/healthy").status, 200);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}\nserver log:\n{}", strata.log());
    }
}
