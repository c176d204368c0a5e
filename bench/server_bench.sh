#!/usr/bin/env bash
# Benchmarks of `tickgraph serve` against the issue's targets:
#
#   GET /healthz                                          >= 30,000 req/s  (wrk -t2 -c64)
#   GET /v1/assets/SPX/candles?interval=1d&limit=5000     >=  3,000 req/s  (wrk -t2 -c32; the
#       S&P 500 demo data, 5,000+ daily bars; the API caches the read, so this is the cached path)
#   WebSocket fan-out: 500 clients on one simulated asset  p99 delivery latency <= 50 ms
#                                                          (build/bin/ws_fanout)
#
# It imports the S&P 500 demo into a fresh SQLite database in a temp dir, starts the server on a
# free port with one simulated asset (FANOUT, 20 ticks/s), runs each wrk measurement RUNS times
# and prints every run, the medians and measured/target, then runs the fan-out, stops the server
# with SIGTERM and removes the temp dir. wrk, ws_fanout and the server share the machine's cores,
# so the numbers are for the whole box, not the server alone; the server's CPU use per run is
# printed next to each run to show how the cores were split. It reports and never fails on a slow
# result (benchmarks are not tests); it exits non-zero only when it cannot run.
#
# run: bench/server_bench.sh
#      BUILD=build-e RUNS=1 DURATION=5s WS_SECONDS=5 bench/server_bench.sh   (a quick run)
# env: BUILD (build dir, default build), RUNS (3), DURATION (wrk -d, 10s), WS_CLIENTS (500),
#      WS_SECONDS (15), WS_GRAPH (a graph for the fan-out, e.g. demo; default candles only),
#      SERVER_THREADS (2), HANDLER_THREADS (serve --handler-threads; default serve's own: 16;
#      0 runs REST handlers on the io threads, as before they had a pool).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WS_CLIENTS=${WS_CLIENTS:-500}
WS_SECONDS=${WS_SECONDS:-15}
WS_GRAPH=${WS_GRAPH:-}
SERVER_THREADS=${SERVER_THREADS:-2}
HANDLER_ARGS=()
[[ -z ${HANDLER_THREADS:-} ]] || HANDLER_ARGS=(--handler-threads "$HANDLER_THREADS")

TICKGRAPH=$BUILD/bin/tickgraph
WS_FANOUT=$BUILD/bin/ws_fanout
CSV=$ROOT/scripts/deps/node_modules/vega-datasets/data/sp500-2000.csv
WRK=${WRK:-wrk}

HEALTHZ_TARGET=30000
CANDLES_TARGET=3000
WS_P99_TARGET_MS=50

die() {
  echo "server_bench: $*" >&2
  exit 1
}

[[ -x $TICKGRAPH ]] || die "$TICKGRAPH not found (ninja -C $BUILD tickgraph ws_fanout)"
[[ -x $WS_FANOUT ]] || die "$WS_FANOUT not found (ninja -C $BUILD tickgraph ws_fanout)"
[[ -f $CSV ]] || die "$CSV not found (scripts/bootstrap.sh installs the npm reference data)"
command -v "$WRK" >/dev/null || die "wrk not found (apt-get install wrk)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tickgraph-bench.XXXXXX")
SERVER_PID=

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # The drain takes at most the server's drain timeout (10 s); then force it.
    for _ in $(seq 1 150); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server_bench: the server did not stop within 15 s of SIGTERM; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 500 WebSocket clients and their 500 server ends; harmless when the limit is already higher.
ulimit -n 4096 2>/dev/null || true

# --- the machine ----------------------------------------------------------------------------------
cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
echo "machine: $(nproc) cores (${cpu_model:-unknown CPU}); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "         wrk/ws_fanout and the server share these cores"
echo "build:   $BUILD"

# --- data and server ------------------------------------------------------------------------------
DB="sqlite:$TMP/db.sqlite"
echo
echo "importing $(basename "$CSV") as SPX ..."
"$TICKGRAPH" import csv "$CSV" --symbol SPX --db "$DB" >"$TMP/import.out" 2>&1 ||
  { cat "$TMP/import.out" >&2; die "import failed"; }
sed 's/^/  /' "$TMP/import.out"

# Auth is on, as in production: every request below carries an API key (read scope), and the
# per-credential rate limit is off so that it measures the server, not the limiter.
# BENCH_AUTH=off runs the server with --auth off instead (to see what auth costs).
KEY=$("$TICKGRAPH" auth key add bench --scopes read --db "$DB" 2>/dev/null | sed -n 's/^api_key=//p')
[[ -n $KEY ]] || die "could not create an API key"
auth_args=(--rate-limit 0)
[[ ${BENCH_AUTH:-on} = off ]] && auth_args=(--auth off)
echo "auth:    ${BENCH_AUTH:-on} (requests carry an X-API-Key header either way)"
"$TICKGRAPH" serve --port 0 --db "$DB" --simulate FANOUT --tick-rate 20 --seed 1 \
  --threads "$SERVER_THREADS" "${HANDLER_ARGS[@]}" "${auth_args[@]}" >"$TMP/server.out" \
  2>"$TMP/server.err" &
SERVER_PID=$!

PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's|^tickgraph: serving http://[^:]*:\([0-9][0-9]*\)/.*|\1|p' "$TMP/server.out")
  [[ -n $PORT ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$TMP/server.out" "$TMP/server.err" >&2
    SERVER_PID=
    die "the server exited before serving"
  fi
  sleep 0.1
done
[[ -n $PORT ]] || die "the server did not print its port within 30 s"
echo "server:  pid $SERVER_PID, $(head -1 "$TMP/server.out")"

BASE=http://127.0.0.1:$PORT
CANDLES_PATH='/v1/assets/SPX/candles?interval=1d&limit=5000'

# One request each first: fail early on a wrong route, fill the candle cache, show the sizes.
for path in /healthz "$CANDLES_PATH"; do
  status=$(curl -s -o "$TMP/probe" -w '%{http_code}' -H "X-API-Key: $KEY" "$BASE$path") ||
    status=000
  [[ $status = 200 ]] || { head -c 500 "$TMP/probe" >&2; die "GET $path: HTTP $status"; }
  echo "probe:   GET $path -> 200, $(wc -c <"$TMP/probe") bytes"
done
bars=$(grep -o '"ts":\[[^]]*\]' "$TMP/probe" | tr -cd ',' | wc -c || true)
echo "         the candles body holds $((bars + 1)) bars"

# CPU seconds the server has used so far (user + system).
server_cpu() {
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0)
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}

# wrk's latency (e.g. 812.00us, 1.52ms, 2.01s) in ms.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n
  }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A SUMMARY

# run_wrk NAME PATH THREADS CONNECTIONS TARGET
# Besides req/s and latency, each run reports the CPU time per request of the server and of wrk
# (user + system, from /proc and bash's `time`) and the req/s that CPU cost allows when both have
# every core of the machine to themselves: a figure that other load on a shared machine does not
# move much, unlike req/s.
run_wrk() {
  local name=$1 path=$2 threads=$3 conns=$4 target=$5
  local rps=() p50s=() p99s=() bounds=()
  echo
  echo "== $name: wrk -t$threads -c$conns -d$DURATION --latency GET $path ($RUNS runs)"
  for run in $(seq 1 "$RUNS"); do
    local out=$TMP/wrk-$name-$run.txt cpu0 cpu1 wrk_cpu
    cpu0=$(server_cpu)
    local TIMEFORMAT='%U %S'
    { time "$WRK" -t"$threads" -c"$conns" -d"$DURATION" --latency -H "X-API-Key: $KEY" \
      "$BASE$path" >"$out" 2>&1; } \
      2>"$TMP/wrk-time" || { cat "$out" >&2; die "wrk failed"; }
    cpu1=$(server_cpu)
    wrk_cpu=$(awk '{print $1 + $2}' "$TMP/wrk-time")
    local r n avg p50 p99 errors non2xx per_request
    r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
    n=$(awk '/ requests in / {print $1}' "$out")
    avg=$(to_ms "$(awk '$1 == "Latency" {print $2; exit}' "$out")")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    errors=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    # "server_us wrk_us bound": CPU microseconds per request and the req/s they allow on idle cores.
    per_request=$(awk -v a="$cpu0" -v b="$cpu1" -v w="$wrk_cpu" -v n="$n" -v cores="$(nproc)" \
      'BEGIN {s = (b - a) / n * 1e6; k = w / n * 1e6; printf "%.1f %.1f %.0f", s, k, cores * 1e6 / (s + k)}')
    read -r server_us wrk_us bound <<<"$per_request"
    printf '  run %d: %8s req/s  latency avg %6s ms  p50 %6s ms  p99 %6s ms  CPU/request: server %s us + wrk %s us (<= %s req/s on idle cores)%s%s\n' \
      "$run" "$r" "$avg" "$p50" "$p99" "$server_us" "$wrk_us" "$bound" \
      "${errors:+   socket errors: $errors}" "${non2xx:+   non-2xx: $non2xx}"
    rps+=("$r")
    p50s+=("$p50")
    p99s+=("$p99")
    bounds+=("$bound")
  done
  local m_rps m_p50 m_p99 m_bound ratio verdict
  m_rps=$(median "${rps[@]}")
  m_p50=$(median "${p50s[@]}")
  m_p99=$(median "${p99s[@]}")
  m_bound=$(median "${bounds[@]}")
  ratio=$(awk -v m="$m_rps" -v t="$target" 'BEGIN {printf "%.2f", m / t}')
  verdict=$(awk -v m="$m_rps" -v t="$target" 'BEGIN {print (m >= t ? "met" : "MISSED")}')
  echo "  median: $m_rps req/s (target >= $target: measured/target $ratio, $verdict);" \
    "latency p50 $m_p50 ms, p99 $m_p99 ms; CPU bound on idle cores $m_bound req/s"
  SUMMARY[$name]="$m_rps req/s (idle-core bound $m_bound)|p50 $m_p50 ms, p99 $m_p99 ms|>= $target req/s|$ratio|$verdict"
}

run_wrk healthz /healthz 2 64 "$HEALTHZ_TARGET"
run_wrk candles "$CANDLES_PATH" 2 32 "$CANDLES_TARGET"

# --- WebSocket fan-out ----------------------------------------------------------------------------
echo
echo "== ws_fanout: $WS_CLIENTS clients on FANOUT INTERVAL_1S${WS_GRAPH:+ with graph $WS_GRAPH}," \
  "$WS_SECONDS s"
fanout_args=(--port "$PORT" --clients "$WS_CLIENTS" --seconds "$WS_SECONDS" --symbol FANOUT
  --api-key "$KEY")
[[ -n $WS_GRAPH ]] && fanout_args+=(--graph "$WS_GRAPH")
cpu0=$(server_cpu)
start=$(date +%s.%N)
"$WS_FANOUT" "${fanout_args[@]}" >"$TMP/fanout.out" 2>"$TMP/fanout.err" ||
  echo "server_bench: ws_fanout exited with $? (no client could subscribe)" >&2
end=$(date +%s.%N)
cpu1=$(server_cpu)
sed 's/^/  /' "$TMP/fanout.err" "$TMP/fanout.out"
echo "  server CPU $(awk -v a="$cpu0" -v b="$cpu1" -v s="$start" -v e="$end" \
  'BEGIN {printf "%.2f", (b - a) / (e - s)}') cores (connecting, measuring and closing)"
fanout_json=$(grep '^{"bench":"ws_fanout"' "$TMP/fanout.out" || true)
json_field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<<"$fanout_json"; }
p50=$(json_field p50)
p99=$(json_field p99)
rate=$(json_field msgs_per_s)
closed=$(json_field closed_by_server)
if [[ -n $p99 ]]; then
  ratio=$(awk -v m="$p99" -v t="$WS_P99_TARGET_MS" 'BEGIN {printf "%.2f", m / t}')
  verdict=$(awk -v m="$p99" -v t="$WS_P99_TARGET_MS" 'BEGIN {print (m <= t ? "met" : "MISSED")}')
  printf '  p99 %.2f ms (target <= %s ms: measured/target %s, %s)\n' "$p99" \
    "$WS_P99_TARGET_MS" "$ratio" "$verdict"
  SUMMARY[ws_fanout]=$(printf '%.0f msgs/s, %s closed by server|p50 %.2f ms, p99 %.2f ms|p99 <= %s ms|%s|%s' \
    "$rate" "$closed" "$p50" "$p99" "$WS_P99_TARGET_MS" "$ratio" "$verdict")
fi

# --- stop -----------------------------------------------------------------------------------------
echo
stop_server
echo "server stopped: $(tail -1 "$TMP/server.out")"
if [[ -s $TMP/server.err ]]; then
  echo "server stderr (last lines):"
  tail -5 "$TMP/server.err" | sed 's/^/  /'
fi

echo
echo "summary ($(nproc) cores shared by the server and the load generators; medians of $RUNS runs;"
echo "load average now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '| %-11s | %-36s | %-28s | %-17s | %-15s | %-6s |\n' benchmark measured latency target \
  measured/target result
printf '|-------------|--------------------------------------|------------------------------|-------------------|-----------------|--------|\n'
for name in healthz candles ws_fanout; do
  [[ -n ${SUMMARY[$name]:-} ]] || continue
  IFS='|' read -r measured latency target ratio verdict <<<"${SUMMARY[$name]}"
  printf '| %-11s | %-36s | %-28s | %-17s | %-15s | %-6s |\n' "$name" "$measured" "$latency" \
    "$target" "$ratio" "$verdict"
done
