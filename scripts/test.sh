#!/usr/bin/env bash
# Runs every test of Strata: formatting, lints, unit, property and end-to-end tests
# (which start the real `strata` binary), then the Prometheus PromQL conformance scripts
# in ../shared/promql, in-process and through the HTTP API, with their counts shown.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/promql ]; then
    echo "error: ../shared/promql (Prometheus's conformance scripts) is missing" >&2
    exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked -- --skip prometheus_test_scripts
cargo test --locked -p strata-promql --test conformance -- --nocapture
cargo test --locked -p strata-server --test promql_conformance -- --nocapture
