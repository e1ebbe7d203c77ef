#!/usr/bin/env bash
# Decoder and codec kernels (issues 2 and 3): runs the criterion benches of strata-ingest
# (every decoder) and strata-tsdb's `codecs` bench, and prints the throughput of each
# (criterion's middle estimate) as a markdown table, plus the bytes-per-sample table the
# codec bench prints. Full criterion output is kept in bench/target-logs/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOGS="$BENCH_DIR/target-logs"
mkdir -p "$LOGS"

run_bench() { # log-name cargo-bench-args...
  local name=$1; shift
  log "cargo bench $*"
  (cd "$ROOT" && cargo bench "$@") >"$LOGS/$name.log" 2>&1 || { log "cargo bench $* failed (see $LOGS/$name.log)"; tail -5 "$LOGS/$name.log" >&2; }
}

# criterion prints "name  time: [lo mid hi]" (the name may stand alone on the line
# before) and then "thrpt: [lo mid hi]".
summarize() {
  awk '
    /time:/ { n = $0; sub(/time:.*/, "", n); gsub(/^[ \t]+|[ \t]+$/, "", n); name = (n == "" ? prev : n);
              t = $0; sub(/.*time:[ \t]*\[/, "", t); split(t, a, " "); time = a[3] " " a[4] }
    /thrpt:/ { t = $0; sub(/.*thrpt:[ \t]*\[/, "", t); split(t, a, " "); printf "| %s | %s | %s %s |\n", name, time, a[3], a[4]; name = "" }
    { if ($0 !~ /^[ \t]/ && $0 !~ /time:/) { p = $0; gsub(/^[ \t]+|[ \t]+$/, "", p); prev = p } }
  ' "$1"
}

run_bench ingest -p strata-ingest
run_bench codecs -p strata-tsdb --bench codecs

echo "## Decoder and codec kernels (criterion, one core)"
echo
echo "$(machine_line)"
echo
echo "| benchmark | time (median estimate) | throughput |"
echo "|---|---|---|"
summarize "$LOGS/ingest.log"
summarize "$LOGS/codecs.log"
# The codec bench prints its bytes-per-sample table before criterion starts.
if grep -q '^bytes/sample' "$LOGS/codecs.log"; then
  echo
  echo "Bytes per sample of each codec, as the codec bench prints them:"
  echo
  echo '```'
  awk '/^bytes\/sample/ { on = 1 } /^Benchmarking/ { on = 0 } on' "$LOGS/codecs.log"
  echo '```'
fi
