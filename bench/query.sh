#!/usr/bin/env bash
# Queries side by side (issue 4): the same data loaded into Strata, VictoriaMetrics 1.79
# (Prometheus text import) and Prometheus 2.42 (promtool backfill of the same data as
# OpenMetrics), then each query timed many times on each server. Prints p50/p99 per
# server and Strata's ratio to the fastest peer, and the answer size from each server
# (series or names), which must agree.
#
# Data: node-exporter-like, 625 hosts (10,000 node_cpu_seconds_total series) × NODE_POINTS
# at 15 s; random walks, 1,000 series × 2,000 points at 45 s (25 h), both ending at the
# same minute. Knobs: NODE_POINTS (40) REQUESTS (50) CONCURRENT_REQUESTS (1000) SKIP_STRATA,
# STRATA_FLUSH (1; 0 leaves Strata's data in its in-memory head, where recent data lives).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_POINTS=${NODE_POINTS:-40}
REQUESTS=${REQUESTS:-50}
CONCURRENT_REQUESTS=${CONCURRENT_REQUESTS:-1000}

build_tools
END_MS=$(( $(date +%s) / 60 * 60 * 1000 ))
T=$((END_MS / 1000))
NODE=(--dataset node --hosts 625 --points "$NODE_POINTS" --end-ms "$END_MS")
WALK=(--dataset walk --series 1000 --points 2000 --end-ms "$END_MS")

declare -A URL PID
# Prometheus first: it may compact the backfilled blocks a minute after start, so that
# happens while the others load.
log "prometheus: writing OpenMetrics and backfilling with promtool"
"$LOADGEN" openmetrics "${NODE[@]}" --out "$WORK/node.om" >/dev/null
"$LOADGEN" openmetrics "${WALK[@]}" --out "$WORK/walk.om" >/dev/null
{ grep -v '^# EOF' "$WORK/node.om"; cat "$WORK/walk.om"; } >"$WORK/all.om"
rm "$WORK/node.om" "$WORK/walk.om"
mkdir -p "$WORK/prom-data"
promtool tsdb create-blocks-from openmetrics --max-block-duration=24h "$WORK/all.om" "$WORK/prom-data" >"$WORK/promtool.log" 2>&1 \
  || { tail -5 "$WORK/promtool.log" >&2; exit 1; }
rm "$WORK/all.om"
start_prometheus "$WORK/prom-data"
URL[prometheus]=$SERVER_URL; PID[prometheus]=$SERVER_PID
PROM_STARTED=$SECONDS

load_http() { # server-name base-url
  local d report
  for d in NODE WALK; do
    local -n args=$d
    report=$("$LOADGEN" push "${args[@]}" --url "$2/api/v1/import/prometheus" --concurrency 4 --batch 10000)
    log "$1: $report"
    [[ $(kv errors "$report") == 0 ]] || { log "$1: load failed"; exit 1; }
  done
}

start_vm -search.disableCache
URL[vm]=$SERVER_URL; PID[vm]=$SERVER_PID
load_http vm "${URL[vm]}"
curl -fsS "${URL[vm]}/internal/force_flush" >/dev/null

SERVERS=(prometheus vm)
if [[ -z "${SKIP_STRATA:-}" ]]; then
  # Like VictoriaMetrics, no result cache; and the series limit (10,000 by default) is
  # raised so that the 13,750-series histogram query runs.
  start_strata --cache-ttl 0s --query-max-series 1000000
  URL[strata]=$SERVER_URL; PID[strata]=$SERVER_PID
  load_http strata "${URL[strata]}"
  if [[ ${STRATA_FLUSH:-1} == 1 ]]; then strata_flush "${URL[strata]}"; fi
  SERVERS=(strata prometheus vm)
fi
while ((SECONDS - PROM_STARTED < 75)); do sleep 1; done  # let Prometheus's first compaction pass run

# name | path | requests | concurrency | params (k=v separated by ';')
QUERIES=(
  "instant sum by (job) (rate(x[5m])), 10,000 series|/api/v1/query|$REQUESTS|1|query=sum by (job) (rate(node_cpu_seconds_total[5m]));time=$T"
  "24 h query_range, 60 s step, 1,000 series|/api/v1/query_range|$REQUESTS|1|query=avg by (group) (random_walk);start=$((T - 86400));end=$T;step=60"
  "topk over 10,000 series|/api/v1/query|$REQUESTS|1|query=topk(10, rate(node_cpu_seconds_total[5m]));time=$T"
  "histogram_quantile, 13,750 buckets|/api/v1/query|$REQUESTS|1|query=histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])));time=$T"
  "label-regex selector (300 series)|/api/v1/query|$REQUESTS|1|query=node_memory_MemAvailable_bytes{instance=~\"host-00[1-3][0-9]{2}:9100\"};time=$T"
  "label names (last hour)|/api/v1/labels|$REQUESTS|1|start=$((T - 3600));end=$T"
  "label values of instance (last hour)|/api/v1/label/instance/values|$REQUESTS|1|start=$((T - 3600));end=$T"
  "100 concurrent clients: sum by (mode) (rate) over 1,600 series|/api/v1/query|$CONCURRENT_REQUESTS|100|query=sum by (mode) (rate(node_cpu_seconds_total{instance=~\"host-000.*\"}[5m]));time=$T"
)

declare -A P50 P99 RES QPS SUM
for q in "${QUERIES[@]}"; do
  IFS='|' read -r name path requests concurrency params <<<"$q"
  IFS=';' read -ra plist <<<"$params"
  args=()
  for p in "${plist[@]}"; do args+=(--param "$p"); done
  for s in "${SERVERS[@]}"; do
    report=$("$LOADGEN" query --url "${URL[$s]}$path" "${args[@]}" --requests "$requests" --concurrency "$concurrency" 2>"$WORK/query.err") \
      || report="ok=0 errors=all results=$(head -c 200 "$WORK/query.err" | tr ' \n' '_ ')"
    log "$s | $name | $report"
    P50[$name,$s]=$(kv p50_ms "$report"); P99[$name,$s]=$(kv p99_ms "$report"); RES[$name,$s]=$(kv results "$report"); QPS[$name,$s]=$(kv qps "$report"); SUM[$name,$s]=$(kv value_sum "$report")
    [[ $(kv errors "$report") == 0 ]] || { P50[$name,$s]=error; P99[$name,$s]=error; }
  done
done

fastest() { # name p50|p99 -> min over peers
  local -n m=$2
  printf '%s\n' "${m[$1,prometheus]}" "${m[$1,vm]}" | grep -E '^[0-9.]+$' | sort -g | head -1
}

echo "## Queries: Strata vs VictoriaMetrics 1.79 vs Prometheus 2.42 (latency in ms)"
echo
echo "$(machine_line) Same data in each; VictoriaMetrics with -search.disableCache (else repeats time its cache);"
echo "$REQUESTS sequential requests per query after 3 warm-ups unless stated; evaluation time $T (end of data)."
echo
echo "| query | Strata p50 | Strata p99 | VM p50 | VM p99 | Prometheus p50 | Prometheus p99 | Strata / fastest peer p50 | p99 | answer size S/V/P | queries/s S/V/P |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for q in "${QUERIES[@]}"; do
  name=${q%%|*}
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s/%s | %s/%s/%s |\n' "$name" \
    "${P50[$name,strata]:-n/a}" "${P99[$name,strata]:-n/a}" "${P50[$name,vm]}" "${P99[$name,vm]}" \
    "${P50[$name,prometheus]}" "${P99[$name,prometheus]}" \
    "$(ratio "${P50[$name,strata]:-n/a}" "$(fastest "$name" P50)")" "$(ratio "${P99[$name,strata]:-n/a}" "$(fastest "$name" P99)")" \
    "${RES[$name,strata]:-n/a}" "${RES[$name,vm]:-}" "${RES[$name,prometheus]:-}" \
    "${QPS[$name,strata]:-n/a}" "${QPS[$name,vm]:-}" "${QPS[$name,prometheus]:-}"
done
echo
echo "Answers compared (the sum of every sample value in the first answer). Answers built on rate()"
echo "differ from both peers in the 4th or 5th digit: Strata follows Prometheus 3, whose range windows"
echo "leave out the sample exactly at their start, and the peers here count it; float summation order"
echo "may differ in the last digits:"
echo
echo "| query | Strata | VictoriaMetrics | Prometheus |"
echo "|---|---|---|---|"
for q in "${QUERIES[@]}"; do
  name=${q%%|*}
  printf '| %s | %s | %s | %s |\n' "$name" "${SUM[$name,strata]:-n/a}" "${SUM[$name,vm]:-}" "${SUM[$name,prometheus]:-}"
done
