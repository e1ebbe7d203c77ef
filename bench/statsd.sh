#!/usr/bin/env bash
# StatsD over UDP (issue 2): Strata alone (statsd_exporter is not packaged here). For each
# offered rate, sends RATE × DURATION_S lines (16 per packet: 70 % counters, 20 % timers,
# 10 % gauges, DogStatsD tags) and compares lines sent with the lines Strata counted on
# its /metrics, plus the kernel's UDP receive-buffer drops over the run.
#
# Knobs: RATES ("250000 500000 750000 1000000") DURATION_S (4) LINES_PER_PACKET (16)
# STATSD_LINES_METRIC (the /metrics counter of StatsD lines Strata received).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATES=${RATES:-250000 500000 750000 1000000}
DURATION_S=${DURATION_S:-4}
LINES_PER_PACKET=${LINES_PER_PACKET:-16}
STATSD_LINES_METRIC=${STATSD_LINES_METRIC:-strata_statsd_lines_accepted_total}

build_tools
[[ -z "${SKIP_STRATA:-}" ]] || { log "no strata binary: nothing to measure"; exit 1; }
start_strata

# The sum over every series of a counter on Strata's /metrics (0 when absent).
metric_sum() {
  curl -fsS "$SERVER_URL/metrics" | awk -v m="$1" '
    $1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%.0f", s }'
}

# The count settles once the receive queue is drained: wait until it stops moving.
settled_count() {
  local last=-1 now
  now=$(metric_sum "$STATSD_LINES_METRIC")
  while [[ $now != "$last" ]]; do
    sleep 1
    last=$now
    now=$(metric_sum "$STATSD_LINES_METRIC")
  done
  echo "$now"
}

echo "## StatsD over UDP into Strata"
echo
echo "$(machine_line) $LINES_PER_PACKET lines per packet, $DURATION_S s per rate, sender on the same cores."
echo
echo "| offered lines/s | achieved send rate | lines sent | lines counted by Strata | lost | loss % | kernel rcvbuf drops | goal |"
echo "|---|---|---|---|---|---|---|---|"
for rate in $RATES; do
  before=$(settled_count)
  report=$("$LOADGEN" statsd --addr "$STRATA_STATSD_ADDR" --rate "$rate" --count $((rate * DURATION_S)) \
    --lines-per-packet "$LINES_PER_PACKET")
  log "$rate: $report"
  after=$(settled_count)
  sent=$(kv lines_sent "$report")
  got=$((after - before))
  lost=$((sent - got))
  goal=""; ((rate == 500000)) && goal="≥ 500k lines/s, no loss"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(fmt_int "$rate")" "$(fmt_int "$(kv achieved_lines_per_s "$report")")" \
    "$(fmt_int "$sent")" "$(fmt_int "$got")" "$(fmt_int "$lost")" "$(div "$((lost * 100))" "$sent" 3)" \
    "$(kv kernel_udp_rcvbuf_drops "$report")" "$goal"
done
