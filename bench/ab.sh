#!/usr/bin/env bash
# Two Strata builds side by side, for measuring one change: both serve the same data at
# once and answer the same query in alternating blocks of 30 requests, so that the
# host's noise, which moves single runs by tens of percent here, falls on both alike.
# Prints each build's median of its blocks' p50 and every block's p50.
#
# Usage: bench/ab.sh BUILD_A BUILD_B QUERY   (binaries of `strata`, e.g. copies of
# target/release/strata from two commits). QUERY: rate, topk, hist or range, the
# bench/query.sh queries of the same names. Knobs: FLUSH (1; 0 keeps the data in the
# head), ROUNDS (8 blocks per build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# == 3 ]] || { sed -n '2,10p' "$0" >&2; exit 2; }
declare -A BUILDS=([A]="$1" [B]="$2")
QUERY=$3
FLUSH=${FLUSH:-1}
ROUNDS=${ROUNDS:-8}
SKIP_STRATA=1 build_tools

END_MS=$(( $(date +%s) / 60 * 60 * 1000 ))
T=$((END_MS / 1000))
declare -A URL
for v in A B; do
  STRATA_BIN=${BUILDS[$v]} start_strata --cache-ttl 0s --query-max-series 1000000
  URL[$v]=$SERVER_URL
  for data in "--dataset node --hosts 625 --points 40" "--dataset walk --series 1000 --points 2000"; do
    # shellcheck disable=SC2086
    "$LOADGEN" push $data --end-ms "$END_MS" --url "$SERVER_URL/api/v1/import/prometheus" \
      --concurrency 4 --batch 10000 >/dev/null
  done
  if [[ $FLUSH == 1 ]]; then strata_flush "$SERVER_URL"; fi
done

case $QUERY in
  rate) PARAMS=(--param "query=sum by (job) (rate(node_cpu_seconds_total[5m]))" --param "time=$T") ;;
  topk) PARAMS=(--param "query=topk(10, rate(node_cpu_seconds_total[5m]))" --param "time=$T") ;;
  hist) PARAMS=(--param "query=histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))" --param "time=$T") ;;
  range) PARAMS=(--param "query=avg by (group) (random_walk)" --param "start=$((T - 86400))" --param "end=$T" --param step=60) ;;
  *) log "unknown query $QUERY"; exit 2 ;;
esac
PATH_=/api/v1/query
[[ $QUERY == range ]] && PATH_=/api/v1/query_range

p50() { # build requests
  kv p50_ms "$("$LOADGEN" query --url "${URL[$1]}$PATH_" "${PARAMS[@]}" --requests "$2" --concurrency 1)"
}
declare -A BLOCKS
for v in A B; do p50 "$v" 20 >/dev/null; done
for ((r = 0; r < ROUNDS; r++)); do
  for v in A B; do BLOCKS[$v]+="$(p50 "$v" 30) "; done
done
for v in A B; do
  median=$(tr ' ' '\n' <<<"${BLOCKS[$v]}" | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  echo "$v ${BUILDS[$v]}: median p50 $median ms; blocks: ${BLOCKS[$v]}"
done
