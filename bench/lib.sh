# Shared helpers of the bench scripts (sourced, not run): build, free ports, starting
# and stopping Strata / VictoriaMetrics / Prometheus on fresh temp directories, and
# reading RSS, disk usage and key=value reports. Every server started here is killed
# by the EXIT trap, whatever happens.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
LOADGEN="${LOADGEN:-$ROOT/target/release/strata-loadgen}"
STRATA_BIN="${STRATA_BIN:-$ROOT/target/release/strata}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")"
STARTED_PIDS=()

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -z "${KEEP_WORK:-}" ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# Builds the load generator and, when its crate has a binary, Strata (release).
build_tools() {
  log "building strata-loadgen (release)"
  (cd "$ROOT" && cargo build --release -q -p strata-loadgen)
  if [[ -z "${SKIP_STRATA:-}" ]]; then
    log "building strata (release)"
    if ! (cd "$ROOT" && cargo build --release -q -p strata-server --bin strata); then
      log "strata does not build here: its columns will read n/a"
      SKIP_STRATA=1
    fi
  fi
  [[ -x "$STRATA_BIN" ]] || SKIP_STRATA=1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [seconds]: until URL answers 2xx.
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-60}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || { log "no answer from $url"; return 1; }
    sleep 0.1
  done
}

# Each start_* sets SERVER_PID, SERVER_URL and SERVER_DIR (a fresh data dir).
start_server() { # name, ready-path, command...
  local name=$1 ready=$2
  shift 2
  "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  STARTED_PIDS+=("$SERVER_PID")
  wait_http "$SERVER_URL$ready" 120 || { tail -20 "$WORK/$name.log" >&2; return 1; }
}

start_strata() { # extra args...
  local port statsd_port
  port=$(free_port); statsd_port=$(free_port)
  SERVER_DIR=$(mktemp -d "$WORK/strata.XXXX")
  SERVER_URL="http://127.0.0.1:$port"
  STRATA_STATSD_ADDR="127.0.0.1:$statsd_port"
  start_server strata /-/ready "$STRATA_BIN" serve --data-dir "$SERVER_DIR" \
    --http-addr "127.0.0.1:$port" --statsd-addr "$STRATA_STATSD_ADDR" "$@"
}

# VictoriaMetrics 1.79 as the issues ask (-retentionPeriod=100y). For queries, the
# response cache is disabled (repeating one query would otherwise time the cache) and
# the latency offset is 0 so data is queryable as soon as VictoriaMetrics can.
start_vm() { # extra args...
  local port
  port=$(free_port)
  SERVER_DIR=$(mktemp -d "$WORK/vm.XXXX")
  SERVER_URL="http://127.0.0.1:$port"
  start_server vm /health victoria-metrics -storageDataPath="$SERVER_DIR" \
    -httpListenAddr="127.0.0.1:$port" -retentionPeriod=100y -search.latencyOffset=0s "$@"
}

# Prometheus 2.42 with no scrape targets, remote-write receiver on, nothing expires. Its
# out-of-order window is opened wide: the connections of a push drift apart in time, and
# a multi-hour data set would otherwise be refused as "out of bounds" (older than the
# head's newest sample minus one hour).
start_prometheus() { # [existing tsdb dir] extra args...
  local port
  port=$(free_port)
  SERVER_DIR=${1:-$(mktemp -d "$WORK/prom.XXXX")}
  shift || true
  SERVER_URL="http://127.0.0.1:$port"
  printf 'global:\n  scrape_interval: 15s\nstorage:\n  tsdb:\n    out_of_order_time_window: 30d\n' >"$WORK/prometheus.yml"
  start_server prometheus /-/ready prometheus --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$SERVER_DIR" --storage.tsdb.retention.time=100y \
    --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver "$@"
}

stop_server() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# VictoriaMetrics: write buffered rows to parts, then merge them fully (as the issue
# asks before measuring disk) and wait until the background merge ends.
vm_flush_and_merge() { # base url
  curl -fsS "$1/internal/force_flush" >/dev/null
  curl -fsS "$1/internal/force_merge" >/dev/null
  local deadline=$((SECONDS + 300))
  sleep 1
  while [[ $(curl -fsS "$1/metrics" | awk '$1 == "vm_active_force_merges" { print $2 }') != 0 ]]; do
    ((SECONDS < deadline)) || { log "force merge still running after 300 s"; break; }
    sleep 0.5
  done
}

strata_flush() { # base url
  curl -fsS -X POST "$1/api/v1/admin/metrics/flush" >/dev/null
}

# kv KEY "k=v k2=v2 ...": the value of KEY in a loadgen report line.
kv() {
  tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2); exit }'
}

peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
disk_bytes() { du -sb "$1" | cut -f1; }

# Formatting: fmt_int 1234567 -> 1,234,567; ratio A B -> A/B with 2 decimals.
fmt_int() { sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta' <<<"${1%.*}"; }
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.*f", d, a / b }'; }

machine_line() {
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, shared and noisy (load average $(cut -d' ' -f1-3 /proc/loadavg) at the end of the run); load generator on the same cores. $(date -u '+%Y-%m-%d %H:%M UTC')."
}
