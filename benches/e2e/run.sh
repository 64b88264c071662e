#!/usr/bin/env bash
# End-to-end benchmark: ferrotel against its peers (rotel; otelcol when its build can take the scenario)
# on the same load, one after the other in the same run. See README.md, section "Performance".
#
#   bash benches/e2e/run.sh [options]
#     --repeats N        runs per scenario and collector; the median is reported (default 3)
#     --duration SECS    load duration of each fixed-rate run (default 20)
#     --max-duration S   load duration of each max-throughput run (default 15)
#     --rate ITEMS/S     fixed rate of scenarios 1, 2 and 4 (default 50000)
#     --latency-rate R   fixed rate of the latency scenario (default 20000)
#     --scenarios LIST   comma-separated subset of the scenarios below (default: 1,2,3,4,d1,d2,d3,
#                        every c-*, cg-snappy, lat, every p-*, idle)
#     --collectors LIST  comma-separated subset of: ferrotel,rotel,otelcol (default all)
#     --no-build         use target/release as it is
#     --no-readme        do not write the table into README.md
# PEERS_INSTALL=path overrides ../shared/peers/install.sh (e.g. when run from a copy of the repo).
#
# Scenarios (items carry 10 attributes plus the loadgen.seq sequence attribute; 100 items per request):
#   1  traces  OTLP/gRPC in -> batch -> OTLP/gRPC out, fixed rate
#   2  traces  OTLP/HTTP protobuf in -> batch -> OTLP/HTTP protobuf out, fixed rate
#   3  traces  as 1, rate unbounded, collector pinned to CPU 0 (load generator and sink on CPU 1)
#   4  logs and metrics as 1, fixed rate (rows 4-logs, 4-metrics)
# "Defaults" (exporter compression left at its default on every collector: gzip, level 6 for ferrotel):
#   d1 as 1, d2 as 2, d3 as 3
# Compression (ferrotel only, traces HTTP -> batch -> otlp_http with that compression):
#   c-none c-gzip1 c-gzip6 c-gzip9 c-zstd c-snappy c-x-snappy-framed c-lz4
# gRPC compression (ferrotel only, traces gRPC -> batch -> otlp_grpc with that compression; against p-pass):
#   cg-snappy
# Latency: lat  traces gRPC -> gRPC without batching at --latency-rate, exporter defaults; the sender's
#   p50/p99 through each collector and sent straight to the sink ("direct")
# Decoding components (ferrotel only, traces gRPC -> batch -> gRPC, no compression), CPU per item
# against p-pass:  p-pass p-attributes p-resource p-resourcedetection p-pq (persistent queue),
#   p-json (OTLP/HTTP JSON in -> batch -> otlp_http JSON out; against c-none)
# idle: RSS 3 s after start with the three default pipelines (traces, metrics, logs: otlp -> batch
#   -> otlp_grpc), no load; and the stripped size of the release binary
# Per run: collector CPU seconds (utime+stime from /proc/PID/stat) per million items, peak RSS (VmHWM),
# achieved rate, and missing / duplicated items counted by the sink from sequence numbers.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

repeats=3 duration=20 max_duration=15 rate=50000 latency_rate=20000 collectors=ferrotel,rotel,otelcol
scenarios=1,2,3,4,d1,d2,d3,c-none,c-gzip1,c-gzip6,c-gzip9,c-zstd,c-snappy,c-x-snappy-framed,c-lz4,cg-snappy,lat
scenarios+=,p-pass,p-attributes,p-resource,p-resourcedetection,p-pq,p-json,idle
build=1 readme=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --repeats) repeats=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --max-duration) max_duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --latency-rate) latency_rate=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --collectors) collectors=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-readme) readme=0; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ $build == 1 ]]; then
  cargo build --profile "${PROFILE:-release}" --bins >&2
fi
bindir=${CARGO_TARGET_DIR:-$repo/target}/${PROFILE:-release}
ferrotel=$bindir/ferrotel
loadgen=$bindir/ferrotel-loadgen
peers=$(bash "${PEERS_INSTALL:-$repo/../shared/peers/install.sh}" | tail -n1)
rotel=$peers/rotel
otelcol=$peers/otelcol

work=$(mktemp -d /tmp/ferrotel-e2e.XXXXXX)
results=$work/results.jsonl
: >"$results"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
echo "work dir: $work" >&2

ticks=$(getconf CLK_TCK)
ncpu=$(nproc)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port: waits up to 15 s for something to listen
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

has_ferrotel_batch=0
if "$ferrotel" components | sed -n '/^processors:/,/^exporters:/p' | grep -q '^  batch:'; then
  has_ferrotel_batch=1
fi
has_otelcol_otlp=0
if "$otelcol" components 2>/dev/null | sed -n '/^receivers:/,/^processors:/p' | grep -q 'name: otlp$'; then
  has_otelcol_otlp=1
fi
# Batching: otelcol's and rotel's defaults agree (8192 items or 200 ms). Without a batch processor
# in ferrotel, rotel runs with batching disabled too, so both do the same work per request.
if [[ $has_ferrotel_batch == 1 ]]; then
  batching="batch processor on both: 8192 items or 200 ms (otelcol's and rotel's defaults)"
else
  batching="none on either (this ferrotel build has no batch processor; rotel runs with --disable-batching)"
fi

# What a scenario is: its input protocol, output protocol, exporter compression ("default": the key
# left out), whether it batches, and ferrotel's processors before batch.
proto_in() { case $1 in 2|d2|c-*) echo http ;; p-json) echo json ;; *) echo grpc ;; esac; }
proto_out() { case $1 in 2|d2|c-*|p-json) echo http ;; *) echo grpc ;; esac; }
compression_of() {
  case $1 in
    d1|d2|d3|lat) echo default ;;
    c-gzip1|c-gzip6|c-gzip9) echo gzip ;;
    c-*) echo "${1#c-}" ;;
    cg-*) echo "${1#cg-}" ;;
    *) echo none ;;
  esac
}
batches() { [[ $has_ferrotel_batch == 1 && $1 != lat ]]; }
collectors_of() { # which collectors take part in scenario $1
  case $1 in
    c-*|cg-*|p-*) echo ferrotel ;;
    lat) echo "ferrotel rotel direct" ;;
    *) echo "ferrotel rotel otelcol" ;;
  esac
}

# ferrotel_yaml SCENARIO SIGNAL GRPC_IN HTTP_IN SINK_GRPC SINK_HTTP
ferrotel_yaml() {
  local sc=$1 signal=$2 gin=$3 hin=$4 sg=$5 sh=$6
  # extra: keys for both exporters; hextra: otlp_http only (otlp_grpc has no compression_params, as in otelcol)
  local comp exporter=otlp_grpc procs=() extra=() hextra=() extensions=""
  comp=$(compression_of "$sc")
  [[ $(proto_out "$sc") == http ]] && exporter=otlp_http
  # c-*: the compression under test goes on otlp_http only (otlp_grpc has no snappy/lz4 here)
  if [[ $sc == c-* ]]; then hextra+=("compression: $comp")
  elif [[ $comp != default ]]; then extra+=("compression: $comp"); fi
  case $sc in
    c-gzip1) hextra+=("compression_params: {level: 1}") ;;
    c-gzip6) hextra+=("compression_params: {level: 6}") ;;
    c-gzip9) hextra+=("compression_params: {level: 9}") ;;
    p-attributes) procs+=(attributes) ;;
    p-resource) procs+=(resource) ;;
    p-resourcedetection) procs+=(resourcedetection) ;;
    p-pq)
      rm -rf "$work/storage"; mkdir -p "$work/storage"
      extensions="extensions: [file_storage]"
      extra+=("sending_queue: {storage: file_storage}") ;;
    p-json) hextra+=("encoding: json") ;;
  esac
  batches "$sc" && procs+=(batch)
  local ex="" hx="" plist
  for e in "${extra[@]}"; do ex+=", $e"; done
  for e in "${hextra[@]}"; do hx+=", $e"; done
  plist=$(IFS=,; echo "${procs[*]}")
  cat <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
      http: {endpoint: "127.0.0.1:$hin"}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
  attributes: {actions: [{key: deployment.environment, value: bench, action: insert}, {key: http.method, action: delete}]}
  resource: {attributes: [{key: deployment.environment, value: bench, action: upsert}]}
  resourcedetection: {detectors: [env, system]}
extensions:
  file_storage: {directory: "$work/storage", create_directory: true}
exporters:
  otlp_grpc: {endpoint: "127.0.0.1:$sg", tls: {insecure: true}$ex}
  otlp_http: {endpoint: "http://127.0.0.1:$sh"$ex$hx}
service:
  $extensions
  telemetry: {logs: {level: warn}}
  pipelines:
    $signal: {receivers: [otlp], processors: [$plist], exporters: [$exporter]}
EOF
}

# start_collector NAME SCENARIO SIGNAL CPUS GRPC_IN HTTP_IN SINK_GRPC SINK_HTTP -> sets $cpid
start_collector() {
  local name=$1 sc=$2 signal=$3 cpus=$4 gin=$5 hin=$6 sg=$7 sh=$8
  local out
  out=$(proto_out "$sc")
  local log=$work/$name-$sc-$signal.log
  case $name in
    ferrotel)
      ferrotel_yaml "$sc" "$signal" "$gin" "$hin" "$sg" "$sh" >"$work/ferrotel.yaml"
      taskset -c "$cpus" "$ferrotel" --config "$work/ferrotel.yaml" >"$log" 2>&1 &
      ;;
    rotel)
      local sink_ep=http://127.0.0.1:$sg batch=() comp=()
      [[ $out == http ]] && sink_ep=http://127.0.0.1:$sh
      if batches "$sc"; then batch=(--batch-max-size 8192 --batch-timeout 200ms); else batch=(--disable-batching); fi
      [[ $(compression_of "$sc") == default ]] || comp=(--otlp-exporter-compression none)
      taskset -c "$cpus" "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$gin" --otlp-http-endpoint "127.0.0.1:$hin" \
        --exporter otlp --otlp-exporter-endpoint "$sink_ep" --otlp-exporter-protocol "$out" \
        "${comp[@]}" "${batch[@]}" \
        --pid-file "$work/rotel.pid" --log-file "$work/rotel-agent.log" >"$log" 2>&1 &
      ;;
    otelcol)
      local procs="" comp=""
      batches "$sc" && procs=batch
      [[ $(compression_of "$sc") == default ]] || comp="compression: none"
      cat >"$work/otelcol.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
      http: {endpoint: "127.0.0.1:$hin"}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  otlphttp:
    endpoint: "http://127.0.0.1:$sh"
    $comp
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    $signal: {receivers: [otlp], processors: [$procs], exporters: [otlphttp]}
EOF
      taskset -c "$cpus" "$otelcol" --config "$work/otelcol.yaml" >"$log" 2>&1 &
      ;;
  esac
  cpid=$!
  pids+=("$cpid")
}

# run_one COLLECTOR SCENARIO SIGNAL REPEAT
run_one() {
  local name=$1 sc=$2 signal=$3 rep=$4
  local gin hin sg sh st
  gin=$(free_port) hin=$(free_port) sg=$(free_port) sh=$(free_port) st=$(free_port)
  local ccpus="0-$((ncpu - 1))" lcpus="0-$((ncpu - 1))" load_rate=$rate dur=$duration conns=4 proto encoding=proto
  local retry=()
  if [[ $sc == 3 || $sc == d3 ]]; then
    # Refused requests are retried with backoff, as SDKs do, so that a collector that refuses when
    # its queue is full is not flooded by instant re-sends that take the sink's CPU.
    ccpus=0 lcpus=$((ncpu > 1 ? 1 : 0)) load_rate=0 dur=$max_duration conns=8 retry=(--retry)
  fi
  [[ $sc == lat ]] && load_rate=$latency_rate
  proto=$(proto_in "$sc")
  [[ $proto == json ]] && proto=http encoding=json
  taskset -c "$lcpus" "$loadgen" sink --grpc "127.0.0.1:$sg" --http "127.0.0.1:$sh" --stats "127.0.0.1:$st" \
    >"$work/sink.out" 2>&1 &
  local spid=$!
  pids+=("$spid")
  local port=$gin
  [[ $proto == http ]] && port=$hin
  if [[ $name == direct ]]; then
    # The load straight to the sink: the latency the collectors are compared against.
    cpid=$spid port=$sg
    [[ $proto == http ]] && port=$sh
  else
    start_collector "$name" "$sc" "$signal" "$ccpus" "$gin" "$hin" "$sg" "$sh"
  fi
  wait_port "$sg"; wait_port "$st"
  wait_port "$port"
  sleep 1
  local c0 c1 rss
  c0=$(cpu_ticks "$cpid")
  taskset -c "$lcpus" "$loadgen" send --signal "$signal" --protocol "$proto" --encoding "$encoding" \
    --endpoint "127.0.0.1:$port" --items-per-request 100 --attributes 10 --connections "$conns" \
    --rate "$load_rate" --duration "${dur}s" "${retry[@]}" --json >"$work/report.json"
  read -r accepted seq_end < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["items_accepted"], r["seq_end"])' "$work/report.json")
  "$loadgen" stats --sink "127.0.0.1:$st" --from 0 --to "$seq_end" --expect "$accepted" \
    --settle 3s --timeout 60s >"$work/stats.json"
  c1=$(cpu_ticks "$cpid")
  rss=$(peak_rss_kb "$cpid")
  kill "$cpid" "$spid" 2>/dev/null || true
  wait "$cpid" "$spid" 2>/dev/null || true
  python3 "$repo/benches/e2e/report.py" row --collector "$name" --scenario "$sc" --signal "$signal" \
    --repeat "$rep" --cpu-s "$(python3 -c "print(($c1 - $c0) / $ticks)")" --peak-rss-kb "$rss" \
    --report "$work/report.json" --stats "$work/stats.json" | tee -a "$results" >&2
}

# idle_one COLLECTOR REPEAT: RSS 3 s after start with the three default pipelines, no load.
idle_one() {
  local name=$1 rep=$2 gin hin sg
  gin=$(free_port) hin=$(free_port) sg=$(free_port)
  case $name in
    ferrotel)
      cat >"$work/idle.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
      http: {endpoint: "127.0.0.1:$hin"}
processors:
  batch: {}
exporters:
  otlp_grpc: {endpoint: "127.0.0.1:$sg", tls: {insecure: true}}
service:
  telemetry: {logs: {level: warn}}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
    logs: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
EOF
      "$ferrotel" --config "$work/idle.yaml" >"$work/idle.log" 2>&1 &
      ;;
    rotel)
      "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$gin" --otlp-http-endpoint "127.0.0.1:$hin" \
        --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:$sg" \
        --pid-file "$work/rotel.pid" --log-file "$work/rotel-agent.log" >"$work/idle.log" 2>&1 &
      ;;
    *) return 0 ;;
  esac
  local p=$!
  pids+=("$p")
  wait_port "$gin"
  sleep 3
  local rss
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  printf '{"collector": "%s", "scenario": "idle", "signal": "-", "repeat": %s, "idle_rss_mb": %s}\n' \
    "$name" "$rep" "$(python3 -c "print($rss / 1024)")" | tee -a "$results" >&2
}

IFS=, read -ra want_sc <<<"$scenarios"
IFS=, read -ra want_col <<<"$collectors"
wants_col() { [[ " ${want_col[*]} direct " == *" $1 "* ]]; }
for sc in "${want_sc[@]}"; do
  if [[ $sc == idle ]]; then
    for rep in $(seq "$repeats"); do
      for name in ferrotel rotel; do
        if wants_col "$name"; then idle_one "$name" "$rep"; fi
      done
    done
    continue
  fi
  signals=(traces)
  [[ $sc == 4 ]] && signals=(logs metrics)
  for signal in "${signals[@]}"; do
    for rep in $(seq "$repeats"); do
      for name in $(collectors_of "$sc"); do
        wants_col "$name" || continue
        if [[ $name == otelcol ]]; then
          # The small otelcol build has only otlphttp out; it needs an OTLP receiver to take part.
          [[ $has_otelcol_otlp == 1 && $(proto_out "$sc") == http ]] || continue
        fi
        echo "== scenario $sc $signal, $name, run $rep" >&2
        run_one "$name" "$sc" "$signal" "$rep"
      done
    done
  done
done

# The stripped size of the ferrotel binary (what a container ships).
strip -o "$work/ferrotel.stripped" "$ferrotel"
printf '{"collector": "ferrotel", "scenario": "size", "signal": "-", "repeat": 1, "stripped_mb": %s, "profile": "%s"}\n' \
  "$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1048576)" "$work/ferrotel.stripped")" \
  "${PROFILE:-release}" | tee -a "$results" >&2
load=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git -C "$repo" rev-parse --short HEAD)
git -C "$repo" diff --quiet HEAD -- src Cargo.toml Cargo.lock || commit+="+uncommitted"

otelcol_note="otelcol (contrib 0.135, the small build from ../shared/peers) is not in the table: it has no OTLP receiver (receivers: filelog), so it cannot take these scenarios."
[[ $has_otelcol_otlp == 1 ]] && otelcol_note="otelcol runs where its otlphttp exporter fits (scenarios 2 and 4)."
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $ncpu cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
python3 "$repo/benches/e2e/report.py" table "$results" --date "$(date -u +%F)" --machine "$machine" \
  --rate "$rate" --duration "$duration" --max-duration "$max_duration" --repeats "$repeats" \
  --batching "$batching" --note "$otelcol_note" --commit "$commit" --load "$load" \
  --latency-rate "$latency_rate" >"$work/table.md"
cat "$work/table.md"
mkdir -p "$repo/benches/e2e/results"
cp "$results" "$repo/benches/e2e/results/latest.jsonl"
cp "$work/table.md" "$repo/benches/e2e/results/latest.md"
if [[ $readme == 1 ]]; then
  python3 "$repo/benches/e2e/report.py" readme "$repo/README.md" "$work/table.md"
fi
