#!/usr/bin/env bash
# Runs every test of Strata: formatting, lints, unit, property and end-to-end tests,
# and the PromQL conformance scripts (whose pass/skip counts are printed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/promql ]; then
    echo "error: ../shared/promql (Prometheus's conformance scripts) is missing" >&2
    exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Again with output shown, so the conformance pass/fail/skip counts appear in the log.
cargo test --workspace --locked --test '*conformance*' -- --nocapture 2>&1 | grep -E 'conformance|passed|skipped|failed' || true
