#!/usr/bin/env bash
# filelog side by side: ferrotel's and otelcol's `filelog` receiver tail the same kind of file at the same
# rate, with the same operator, into the same output (otlp_http, batch processor, to a counting
# `ferrotel-loadgen sink`). See docs/components/receivers/filelog.md, "Performance".
#
#   bash benches/e2e/filelog.sh [--rate LINES/S] [--duration SECS] [--full-lines N] [--modes LIST]
#                               [--collectors LIST] [--no-build]
#     --rate        fixed rate of the writer (default 10000 lines/s)
#     --duration    seconds of writing at that rate (default 20)
#     --full-lines  lines pre-written for the full-speed run (default 2000000)
#     --modes       comma-separated subset of: plain,json,container (default all three)
#     --collectors  ferrotel,otelcol (default both)
# Rows: collector CPU seconds (utime+stime, /proc/PID/stat) per million lines, peak RSS (VmHWM), lines
# received by the sink vs written; full speed: a pre-written file read from the beginning with the
# collector pinned to CPU 0. Its lines/s are counted by the sink between its first and its last
# request (the lines of the requests after the first, over the time from the first to the one before
# the last): start-up and the last, partial batch (sent on the batch timeout, 200 ms) are fixed
# latencies the same for both collectors, which in a run of a second or two would weigh on the faster
# one. The last column is the rate from the collector's start to the last line at the sink (the
# sink's own clock, not the 0.1 s polling of this script).
# PROFILE=dist measures the binary the container image ships (default: release).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=10000 duration=20 full_lines=2000000 modes=plain,json,container collectors=ferrotel,otelcol build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --full-lines) full_lines=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --collectors) collectors=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
target=${CARGO_TARGET_DIR:-target}
[[ $build == 1 ]] && cargo build --profile "${PROFILE:-release}" --bins >&2
ferrotel=$target/${PROFILE:-release}/ferrotel loadgen=$target/${PROFILE:-release}/ferrotel-loadgen
peers=$(bash "${PEERS_INSTALL:-../shared/peers/install.sh}" 2>/dev/null || bash /work/shared/peers/install.sh)
otelcol=$peers/otelcol
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
received() { curl -s "http://127.0.0.1:$1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])'; }
hz=$(getconf CLK_TCK)

# The writer: MODE PATH RATE N START (RATE 0: as fast as it can, before the collector starts).
writer_py='
import sys, time
mode, path, rate, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def line(i):
    if mode == "plain":
        return "2024-01-02T03:04:05.123Z INFO request %d handled path=/api/v1/items status=200 duration_ms=12 user=alice\n" % i
    if mode == "json":
        return "{\"time\":\"2024-01-02T03:04:05.123Z\",\"level\":\"info\",\"seq\":%d,\"msg\":\"request handled\",\"path\":\"/api/v1/items\",\"status\":200}\n" % i
    return "2024-01-02T03:04:05.123456789Z stdout F request %d handled path=/api/v1/items status=200 duration_ms=12\n" % i
with open(path, "a", buffering=1 << 20) as f:
    if rate == 0:
        for i in range(n):
            f.write(line(i))
        sys.exit(0)
    chunk = max(1, rate // 100)
    for i0 in range(0, n, chunk):
        f.write("".join(line(i) for i in range(i0, min(n, i0 + chunk))))
        f.flush()
        d = start + (i0 + chunk) / rate - time.time()
        if d > 0:
            time.sleep(d)
'

config() { # NAME MODE FILE HTTP_PORT
  local name=$1 mode=$2 file=$3 sh=$4 ops="" exp=otlp_http
  [[ $name == otelcol ]] && exp=otlphttp
  case $mode in
    json) ops="    operators: [{type: json_parser}]" ;;
    container) ops="    include_file_path: true
    operators: [{type: container, format: containerd, add_metadata_from_filepath: false}]" ;;
  esac
  cat <<YAML
receivers:
  filelog:
    include: ["$file"]
    start_at: beginning
$ops
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  $exp:
    endpoint: "http://127.0.0.1:$sh"
    compression: none
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    logs: {receivers: [filelog], processors: [batch], exporters: [$exp]}
YAML
}

# run NAME MODE KIND(rate|full): prints one table row.
run() {
  local name=$1 mode=$2 kind=$3 sh st n cpus
  sh=$(free_port) st=$(free_port)
  local file=$work/$name-$mode-$kind.log
  : >"$file"
  "$loadgen" sink --grpc "127.0.0.1:$(free_port)" --http "127.0.0.1:$sh" --stats "127.0.0.1:$st" >"$work/sink.out" 2>&1 &
  local spid=$!; pids+=("$spid")
  wait_port "$st"
  config "$name" "$mode" "$file" "$sh" >"$work/$name.yaml"
  if [[ $kind == full ]]; then
    n=$full_lines
    python3 -c "$writer_py" "$mode" "$file" 0 "$n" 0
    cpus=0
  else
    n=$((rate * duration))
    cpus=0-$(($(nproc) - 1))
  fi
  local t0; t0=$(date +%s.%N)
  if [[ $name == ferrotel ]]; then
    taskset -c "$cpus" "$ferrotel" --config "$work/$name.yaml" >"$work/$name.out" 2>&1 &
  else
    taskset -c "$cpus" "$otelcol" --config "$work/$name.yaml" >"$work/$name.out" 2>&1 &
  fi
  local cpid=$!; pids+=("$cpid")
  local c0; c0=$(cpu_ticks "$cpid")
  if [[ $kind == rate ]]; then
    python3 -c "$writer_py" "$mode" "$file" "$rate" "$n" "$(date +%s.%N)"
  fi
  local got=0 last=-1 still=0
  for _ in $(seq 3000); do
    got=$(received "$st")
    [[ $got -ge $n ]] && break
    if [[ $got == "$last" ]]; then still=$((still + 1)); [[ $still -ge 100 ]] && break; else still=0; fi
    last=$got
    sleep 0.1
  done
  local c1 rss; c1=$(cpu_ticks "$cpid"); rss=$(peak_rss_kb "$cpid")
  local stats; stats=$(curl -s "http://127.0.0.1:$st/stats")
  kill "$cpid" "$spid" 2>/dev/null || true
  wait "$cpid" "$spid" 2>/dev/null || true
  python3 - "$name" "$mode" "$kind" "$n" "$got" "$c0" "$c1" "$hz" "$rss" "$t0" "$stats" <<'PY'
import json, sys
name, mode, kind, n, got, c0, c1, hz, rss, t0, stats = sys.argv[1:]
n, got, hz, st = int(n), int(got), int(hz), json.loads(stats)
cpu = (int(c1) - int(c0)) / hz
per_m = cpu / max(got, 1) * 1e6
rate = total = ""
if kind == "full" and st.get("last_received_unix_ms"):
    first, prev, last = st["first_received_unix_ms"], st["previous_received_unix_ms"], st["last_received_unix_ms"]
    steady = st["items"] - st["first_request_items"] - st["last_request_items"]
    if prev and prev > first:
        rate = f"{steady / ((prev - first) / 1000):,.0f}"
    total = f"{got / (last / 1000 - float(t0)):,.0f}"
print(f"| {name} | {mode} | {kind} | {n} | {got} | {per_m:.2f} | {int(rss) / 1024:.1f} | {rate} | {total} |")
PY
}

echo "| collector | lines | run | written | received | CPU-s per million lines | peak RSS MiB | lines/s | lines/s from start |"
echo "|---|---|---|---|---|---|---|---|---|"
IFS=, read -ra ms <<<"$modes"
IFS=, read -ra cs <<<"$collectors"
for m in "${ms[@]}"; do
  for c in "${cs[@]}"; do run "$c" "$m" rate; done
done
for m in "${ms[@]}"; do
  for c in "${cs[@]}"; do run "$c" "$m" full; done
done
