#!/usr/bin/env bash
# Profiles ferrotel forwarding traces OTLP/gRPC -> batch -> OTLP/gRPC at a fixed rate, with the
# exporter's compression left at its default (gzip, level 6) unless COMPRESSION is set:
# `perf record -e cpu-clock` with DWARF call graphs (the VM has no hardware counters).
#
#   bash benches/e2e/profile.sh [NAME]      (after `cargo build --release --bins`)
#   env: RATE (spans/s, default 20000), SECS (default 15), COMPRESSION (e.g. none, zstd), BATCH=0
#
# Writes benches/e2e/results/profile-NAME.folded (collapsed stacks: render with any flame graph
# tool, e.g. `inferno-flamegraph < file > file.svg`) and profile-NAME.txt (the top symbols, and the
# share of samples by what they do).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
name=${1:-defaults}
rate=${RATE:-20000} secs=${SECS:-15}
bindir=${CARGO_TARGET_DIR:-$repo/target}/release
work=$(mktemp -d /tmp/ferrotel-profile.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gin=$(port) sg=$(port) sh=$(port) st=$(port)
"$bindir/ferrotel-loadgen" sink --grpc "127.0.0.1:$sg" --http "127.0.0.1:$sh" --stats "127.0.0.1:$st" >/dev/null 2>&1 &
pids+=($!)
comp=""
[[ -n ${COMPRESSION:-} ]] && comp=", compression: $COMPRESSION"
procs="[batch]"
[[ ${BATCH:-1} == 0 ]] && procs="[]"
cat >"$work/ferrotel.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
processors:
  batch: {}
exporters:
  otlp_grpc: {endpoint: "127.0.0.1:$sg", tls: {insecure: true}$comp}
service:
  telemetry: {logs: {level: warn}}
  pipelines:
    traces: {receivers: [otlp], processors: $procs, exporters: [otlp_grpc]}
YAML
"$bindir/ferrotel" --config "$work/ferrotel.yaml" >"$work/ferrotel.log" 2>&1 &
fpid=$!
pids+=("$fpid")
sleep 1
"$bindir/ferrotel-loadgen" send --signal traces --protocol grpc --endpoint "127.0.0.1:$gin" \
  --items-per-request 100 --attributes 10 --connections 4 --rate "$rate" --duration "$((secs + 4))s" \
  >"$work/send.txt" &
lpid=$!
pids+=("$lpid")
sleep 2
c0=$(awk '{print $14 + $15}' "/proc/$fpid/stat")
perf record -q -e cpu-clock -F 250 --call-graph dwarf,16384 -p "$fpid" -o "$work/perf.data" -- sleep "$secs" 2>/dev/null
c1=$(awk '{print $14 + $15}' "/proc/$fpid/stat")
wait "$lpid" || true
mkdir -p benches/e2e/results
out=benches/e2e/results/profile-$name
perf script -i "$work/perf.data" 2>/dev/null | python3 "$repo/benches/e2e/fold.py" >"$out.folded"
{
  echo "# ferrotel, traces gRPC -> ${procs} -> otlp_grpc (compression: ${COMPRESSION:-default}), $rate spans/s, $secs s"
  echo "# $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# collector CPU while sampled: $(python3 -c "print(round(($c1 - $c0) / $(getconf CLK_TCK), 2))") s over $secs s"
  echo
  python3 "$repo/benches/e2e/fold.py" --summary <"$out.folded"
  echo
  echo "## top symbols (self time)"
  perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
} >"$out.txt"
cat "$out.txt"
