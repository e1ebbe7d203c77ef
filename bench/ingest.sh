#!/usr/bin/env bash
# Ingest side by side (issues 2 and 3): the same data sets pushed over HTTP with the same
# concurrency into Strata and VictoriaMetrics 1.79 (and, with WITH_PROMETHEUS=1,
# Prometheus 2.42 through remote write, for reference), each on a fresh data directory.
# Prints a markdown table: samples/s end to end, bytes on disk per sample after a flush, peak RSS, peak RSS per
# series, Strata's ratio to VictoriaMetrics; then Strata's ack-to-queryable latency.
#
# Knobs (environment): CONCURRENCY (4) BATCH (10000) NODE_HOSTS (625) NODE_POINTS (160)
# WALK_SERIES (1000) WALK_POINTS (2000) CARD_HOSTS (10000, 0 skips the 1M-series run)
# CARD_POINTS (4) PROBES (30; PEER_PROBES 5 for VictoriaMetrics, which takes seconds)
# PROBE_READ (query; export reads raw samples instead) WITH_PROMETHEUS (0; 1 adds
# Prometheus via remote write) SKIP_STRATA (unset) SKIP_VM (unset; set, VictoriaMetrics
# is not run) SETS ("walk node card": the data sets to run, e.g. SETS=card).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONCURRENCY=${CONCURRENCY:-4}
BATCH=${BATCH:-10000}
NODE_HOSTS=${NODE_HOSTS:-625}
NODE_POINTS=${NODE_POINTS:-160}
WALK_SERIES=${WALK_SERIES:-1000}
WALK_POINTS=${WALK_POINTS:-2000}
CARD_HOSTS=${CARD_HOSTS:-10000}
CARD_POINTS=${CARD_POINTS:-4}
PROBES=${PROBES:-30}
PEER_PROBES=${PEER_PROBES:-5}
PROBE_READ=${PROBE_READ:-query}
WITH_PROMETHEUS=${WITH_PROMETHEUS:-0}
SETS=${SETS:-walk node card}

build_tools
# One fixed end time, so every server receives byte-identical data.
END_MS=$(( $(date +%s) / 60 * 60 * 1000 ))

# measure SERVER DATASET-ARGS...: one fresh server, one push, flush, figures in R_*.
measure() {
  local server=$1; shift
  local data=("$@" --end-ms "$END_MS") url format=prometheus report described
  described=$("$LOADGEN" describe "${data[@]}")
  case $server in
    strata) start_strata; url="$SERVER_URL/api/v1/import/prometheus" ;;
    vm) start_vm; url="$SERVER_URL/api/v1/import/prometheus" ;;
    prometheus) start_prometheus ""; url="$SERVER_URL/api/v1/write"; format=remote-write ;;
  esac
  log "$server: pushing ${data[*]} to $url"
  report=$("$LOADGEN" push "${data[@]}" --url "$url" --format "$format" \
    --concurrency "$CONCURRENCY" --batch "$BATCH")
  log "$server: $report"
  R_RATE=$(kv samples_per_s "$report")
  R_ERRORS=$(kv errors "$report")
  [[ "$R_ERRORS" == 0 ]] || log "$server: $R_ERRORS requests failed (see above): its figures are suspect"
  case $server in
    strata) strata_flush "$SERVER_URL" ;;
    vm) vm_flush_and_merge "$SERVER_URL" ;;
  esac
  local samples; samples=$(kv samples "$report")
  if [[ $server == prometheus ]]; then
    R_BPS="n/a"   # the head lives in the WAL until Prometheus cuts a block itself
  else
    R_BPS=$(div "$(disk_bytes "$SERVER_DIR")" "$samples" 3)
  fi
  [[ $server == prometheus ]] || log "$server: disk after flush: $(du -sb "$SERVER_DIR"/* | awk '{ sub(".*/", "", $2); printf "%s=%s ", $2, $1 }')"
  R_PEAK_KIB=$(peak_rss_kib "$SERVER_PID")
  R_SERIES=$(kv series "$described")
  R_SAMPLES=$(kv samples "$described")
  R_PER_SERIES=$(div "$((R_PEAK_KIB * 1024))" "$R_SERIES" 0)
  if [[ $server == strata || $server == vm ]] && [[ -n "${PROBE_AFTER:-}" ]]; then
    log "$server: probing ack-to-queryable latency"
    local probes=$PROBES
    [[ $server == strata ]] || probes=$PEER_PROBES
    R_PROBE=$("$LOADGEN" probe --url "$SERVER_URL" --count "$probes" --target-ms 100 --timeout-ms 10000 --read "$PROBE_READ")
    log "$server: $R_PROBE"
  fi
  stop_server "$SERVER_PID"
}

na() { local v; for v in R_RATE R_BPS R_PEAK_KIB R_PER_SERIES R_PROBE; do printf -v "$v" 'n/a'; done; }

declare -A T
# run_set NAME DATASET-ARGS...: fills T[NAME,server,figure].
run_set() {
  local name=$1 server; shift
  for server in strata vm prometheus; do
    [[ $server == prometheus && $WITH_PROMETHEUS != 1 ]] && continue
    if [[ $server == strata && -n "${SKIP_STRATA:-}" ]] || [[ $server == vm && -n "${SKIP_VM:-}" ]]; then
      na
    else
      measure "$server" "$@"
    fi
    T[$name,$server,rate]=$R_RATE
    T[$name,$server,bps]=$R_BPS
    T[$name,$server,peak]=$R_PEAK_KIB
    T[$name,$server,per_series]=$R_PER_SERIES
    T[$name,$server,probe]=${R_PROBE:-n/a}
    T[$name,series]=${R_SERIES:-${T[$name,series]:-}}
    T[$name,samples]=${R_SAMPLES:-${T[$name,samples]:-}}
    R_PROBE=
  done
}

wanted() { [[ " $SETS " == *" $1 "* ]]; }
if wanted walk; then
  PROBE_AFTER=1 run_set walk --dataset walk --series "$WALK_SERIES" --points "$WALK_POINTS"
fi
if wanted node; then
  run_set node --dataset node --hosts "$NODE_HOSTS" --points "$NODE_POINTS"
fi
if ((CARD_HOSTS > 0)) && wanted card; then
  WITH_PROMETHEUS=0 run_set card --dataset node --hosts "$CARD_HOSTS" --points "$CARD_POINTS"
fi

mib() { [[ $1 == n/a ]] && echo n/a || div "$1" 1024 0; }
row() { # label, set, figure, formatter, goal
  local s=${T[$2,strata,$3]:-n/a} v=${T[$2,vm,$3]:-n/a} p=${T[$2,prometheus,$3]:-n/a}
  local r; r=$(ratio "$($4 "$s")" "$($4 "$v")")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$($4 "$s")" "$($4 "$v")" "$($4 "$p")" "$r" "$5"
}
plain() { echo "$1"; }
raw_ratio() { [[ $1 == n/a ]] && echo n/a || div 16 "$1" 1; }

echo "## Ingest: Strata vs VictoriaMetrics 1.79 (Prometheus 2.42 via remote write for reference)"
echo
echo "$(machine_line) HTTP push, $CONCURRENCY connections, $BATCH samples per request, WAL sync on (Strata default)."
echo
for set in walk node card; do
  [[ -n "${T[$set,series]:-}" ]] || continue
  case $set in
    walk) title="random walks, 3 decimals ($WALK_SERIES series × $WALK_POINTS points)" ;;
    node) title="node-exporter-like ($NODE_HOSTS hosts × 103 series × $NODE_POINTS points at 15 s)" ;;
    card) title="1M active series (node-exporter-like, $CARD_HOSTS hosts × 103 series × $CARD_POINTS points)" ;;
  esac
  echo "### $title: $(fmt_int "${T[$set,samples]}") samples, $(fmt_int "${T[$set,series]}") series"
  echo
  echo "| figure | Strata | VictoriaMetrics | Prometheus (RW) | Strata / VM | goal |"
  echo "|---|---|---|---|---|---|"
  row "samples/s" "$set" rate plain "≥ 1.5× VM"
  row "bytes on disk / sample (after flush)" "$set" bps plain "≤ 0.7× VM"
  row "raw 16 B / stored (compression)" "$set" bps raw_ratio "≥ 10"
  row "peak RSS (MiB)" "$set" peak mib ""
  row "peak RSS / series (bytes)" "$set" per_series plain "≤ 1024 at 1M series"
  echo
done
echo "### Ack-to-queryable (one fresh series per push, read back via /api/v1/$PROBE_READ polled every 1 ms; goal ≤ 100 ms)"
echo
echo "| server | probes | visible within 100 ms | p50 ms | p99 ms | max ms | never visible (10 s) |"
echo "|---|---|---|---|---|---|---|"
for server in strata vm; do
  p=${T[walk,$server,probe]:-n/a}
  if [[ $p == n/a ]]; then
    echo "| $server | n/a | | | | | |"
  else
    echo "| $server | $(kv probes "$p") | $(kv within_target "$p") | $(kv visible_p50_ms "$p") | $(kv visible_p99_ms "$p") | $(kv visible_max_ms "$p") | $(kv never_visible "$p") |"
  fi
done
