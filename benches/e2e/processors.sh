#!/usr/bin/env bash
# Processor costs side by side, in one run: ferrotel pass-through, ferrotel with `filter` (one attribute
# equality), with `transform` (five statements), with the `loadbalancing` exporter (trace id, three
# backends), and rotel pass-through, all on the same OTLP/gRPC trace load (100 spans per request, 10
# attributes, from `ferrotel-loadgen send`) into counting `ferrotel-loadgen sink`s. No batching anywhere
# (rotel with --disable-batching), so each row does the same work per request apart from the processor.
# See docs/components/processors/filter.md, transform.md and exporters/loadbalancing.md, "Performance".
#
#   bash benches/e2e/processors.sh [--rate SPANS/S] [--duration SECS] [--repeats N] [--rows LIST] [--no-build]
#     --rate      spans per second offered (default 20000)
#     --duration  seconds of load per row (default 15)
#     --repeats   runs of every row, interleaved (default 1)
#     --rows      comma-separated subset of: pass,filter,transform,loadbalancing,rotel (default all)
# Rows: collector CPU seconds (utime+stime, /proc/PID/stat) per million spans accepted, the ratio to
# ferrotel's pass-through of the same repeat, peak RSS (VmHWM), spans accepted and spans at the sinks.
# The filter drops `http.request.method == "DELETE"` (a quarter of the spans), so fewer arrive.
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=20000 duration=15 repeats=1 rows=pass,filter,transform,loadbalancing,rotel build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
target=${CARGO_TARGET_DIR:-target}
[[ $build == 1 ]] && cargo build --release --bins >&2
ferrotel=$target/release/ferrotel loadgen=$target/release/ferrotel-loadgen
peers=$(bash "${PEERS_INSTALL:-../shared/peers/install.sh}" 2>/dev/null | tail -n1 || bash /work/shared/peers/install.sh | tail -n1)
rotel=$peers/rotel
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

# config ROW GRPC_IN SINK_GRPC_PORTS...: ferrotel's config for a row.
config() {
  local row=$1 gin=$2; shift 2
  local procs="" exporter=otlp_grpc
  case $row in
    filter) procs=filter ;;
    transform) procs=transform ;;
    loadbalancing) exporter=loadbalancing ;;
  esac
  local hosts="" p
  for p in "$@"; do hosts="$hosts\"127.0.0.1:$p\", "; done
  cat <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
processors:
  filter:
    error_mode: ignore
    trace_conditions:
      - 'span.attributes["http.request.method"] == "DELETE"'
  transform:
    error_mode: ignore
    trace_statements:
      - set(span.attributes["deployment.environment"], "prod")
      - delete_key(span.attributes, "user_agent.original")
      - replace_pattern(span.attributes["url.path"], "/items/\\\\d+", "/items/{id}")
      - truncate_all(span.attributes, 48)
      - set(span.status.code, STATUS_CODE_ERROR) where span.kind == SPAN_KIND_SERVER
exporters:
  otlp_grpc:
    endpoint: "127.0.0.1:$1"
    tls: {insecure: true}
    compression: none
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls: {insecure: true}
        compression: none
    resolver:
      static: {hostnames: [${hosts%, }]}
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [$procs], exporters: [$exporter]}
YAML
}

# run ROW REPEAT: prints one row as JSON to $work/rows.jsonl.
run() {
  local row=$1 rep=$2 gin sinks=() stats=() sports=() n=1
  gin=$(free_port)
  [[ $row == loadbalancing ]] && n=3
  for _ in $(seq $n); do
    local sg st
    sg=$(free_port) st=$(free_port)
    "$loadgen" sink --grpc "127.0.0.1:$sg" --http "127.0.0.1:$(free_port)" --stats "127.0.0.1:$st" >>"$work/sink.out" 2>&1 &
    sinks+=($!) stats+=("$st") sports+=("$sg"); pids+=($!)
    wait_port "$st"
  done
  if [[ $row == rotel ]]; then
    "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$gin" --otlp-http-endpoint "127.0.0.1:$(free_port)" \
      --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:${sports[0]}" --otlp-exporter-protocol grpc \
      --otlp-exporter-compression none --disable-batching \
      --pid-file "$work/rotel.pid" --log-file "$work/rotel-agent.log" >"$work/rotel.out" 2>&1 &
  else
    config "$row" "$gin" "${sports[@]}" >"$work/$row.yaml"
    "$ferrotel" --config "$work/$row.yaml" >"$work/$row.out" 2>&1 &
  fi
  local cpid=$!; pids+=("$cpid")
  wait_port "$gin"
  sleep 1
  local c0; c0=$(cpu_ticks "$cpid")
  "$loadgen" send --signal traces --protocol grpc --endpoint "127.0.0.1:$gin" --items-per-request 100 \
    --attributes 10 --connections 4 --rate "$rate" --duration "${duration}s" --json >"$work/report.json"
  local accepted; accepted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["items_accepted"])' "$work/report.json")
  # Until the sinks' counts stop moving for 2 s.
  local got=0 last=-1 still=0 s
  for _ in $(seq 600); do
    got=0
    for s in "${stats[@]}"; do got=$((got + $(received "$s"))); done
    if [[ $got == "$last" ]]; then still=$((still + 1)); [[ $still -ge 20 ]] && break; else still=0; fi
    last=$got
    sleep 0.1
  done
  local c1 rss; c1=$(cpu_ticks "$cpid"); rss=$(peak_rss_kb "$cpid")
  kill "$cpid" "${sinks[@]}" 2>/dev/null || true
  wait "$cpid" "${sinks[@]}" 2>/dev/null || true
  python3 -c 'import json,sys; r,rep,acc,got,c0,c1,hz,rss=sys.argv[1:]; print(json.dumps({"row":r,"rep":int(rep),"accepted":int(acc),"received":int(got),"cpu_s":(int(c1)-int(c0))/int(hz),"rss_kb":int(rss)}))' \
    "$row" "$rep" "$accepted" "$got" "$c0" "$c1" "$hz" "$rss" | tee -a "$work/rows.jsonl" >&2
}

IFS=, read -ra want <<<"$rows"
: >"$work/rows.jsonl"
for rep in $(seq "$repeats"); do
  for row in "${want[@]}"; do
    echo "== $row, run $rep" >&2
    run "$row" "$rep"
  done
done

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/rows.jsonl" "$machine" "$rate" "$duration" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"Processors, {sys.argv[3]} spans/s offered for {sys.argv[4]} s per row, 100 spans/request, 10 attributes; {sys.argv[2]}.")
print("Ratios are to ferrotel pass-through of the same repeat; the machine is shared, so compare ratios, not absolute figures.\n")
print("| row | run | spans accepted | spans at sinks | CPU-s per million spans | × pass-through | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
base = {r["rep"]: r["cpu_s"] / max(r["accepted"], 1) for r in rows if r["row"] == "pass"}
for r in rows:
    per = r["cpu_s"] / max(r["accepted"], 1)
    ratio = f'{per / base[r["rep"]]:.2f}' if base.get(r["rep"]) else "–"
    print(f'| {r["row"]} | {r["rep"]} | {r["accepted"]} | {r["received"]} | {per * 1e6:.2f} | {ratio} | {r["rss_kb"] / 1024:.1f} |')
PY
