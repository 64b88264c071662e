#!/usr/bin/env bash
# Writes layout/ferrotel.order, the code layout build.rs hands the linker: the functions the `ferrotel`
# binary executes under the shipped configs, grouped by the workloads that ran them.
#
#   bash layout/generate.sh [BIN...]     (default: $CARGO_TARGET_DIR/{release,dist}/ferrotel, those that exist)
#
# ORDER_OUT=PATH writes elsewhere (the header is taken from layout/ferrotel.order).
#
# Each BIN runs under valgrind's callgrind (every executed function is seen, however rarely it runs):
#   1. config/agent.yaml: filelog (container operator) on a pod log directory the script writes to,
#      otlp gRPC and HTTP receiving traces, metrics and logs (gzip and not) from ferrotel-loadgen,
#      memory_limiter, resourcedetection, batch, otlp to ferrotel-loadgen's sink, health_check, own
#      metrics scraped once; then SIGTERM (an orderly shutdown);
#   2. config/gateway.yaml, the same senders;
#   3. filelog without operators through batch and otlp_http (benches/e2e/filelog.sh's `plain` row).
# The release and dist profiles mangle names differently, so both binaries are profiled and the file
# holds the names of both. Symbols must be in the binary (the dist profile keeps its symbol table).
# Regenerate after large changes; then rebuild (build.rs reruns when the file changes).
set -euo pipefail
cd "$(dirname "$0")/.."
export MALLOC_ARENA_MAX=1 # no re-exec (src/main.rs): it would leave callgrind
target=${CARGO_TARGET_DIR:-target}
bins=("$@")
if [[ ${#bins[@]} == 0 ]]; then
  for p in release dist; do [[ -x $target/$p/ferrotel ]] && bins+=("$target/$p/ferrotel"); done
fi
[[ ${#bins[@]} -gt 0 ]] || { echo "no ferrotel binary under $target; build one first" >&2; exit 2; }
loadgen=$target/release/ferrotel-loadgen
[[ -x $loadgen ]] || loadgen=$(dirname "${bins[0]}")/ferrotel-loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

sg=$(port) sh=$(port) st=$(port)
"$loadgen" --threads 1 sink --grpc "127.0.0.1:$sg" --http "127.0.0.1:$sh" --stats "127.0.0.1:$st" >/dev/null 2>&1 &
pids+=($!)
wait_port "$st"

# Sends every signal over both protocols, gzip and not, a few thousand items each.
send_all() { # GRPC_PORT HTTP_PORT
  local s p c
  for s in traces metrics logs; do
    for p in grpc http; do
      for c in gzip none; do
        local ep=127.0.0.1:$1
        [[ $p == http ]] && ep=127.0.0.1:$2
        "$loadgen" --threads 1 send --signal "$s" --protocol "$p" --compression "$c" --endpoint "$ep" \
          --items-per-request 100 --rate 2000 --count 2000 --retry >/dev/null 2>&1 || true
      done
    done
  done
}

# profile BIN NAME CONFIG LOAD...: runs BIN under callgrind with CONFIG while LOAD runs, then SIGTERM.
profile() {
  local bin=$1 name=$2 cfg=$3; shift 3
  env "${envs[@]}" valgrind --tool=callgrind --demangle=no --dump-instr=no \
    --callgrind-out-file="$work/$name.cg" "$bin" --config "$cfg" >"$work/$name.log" 2>&1 &
  local vp=$!
  "$@"
  kill -TERM "$vp"; wait "$vp" || true
}

pod_lines() { # DIR: container log lines (CRI format) while the agent tails the directory
  local d=$1/default_app-0_0000-1111/app
  mkdir -p "$d"
  python3 - "$d/0.log" <<'PY'
import sys, time
with open(sys.argv[1], "a") as f:
    for i in range(20):
        f.write("".join("2024-01-02T03:04:05.123456789Z stdout %s line %d\n" % ("P" if j % 10 == 0 else "F", i * 100 + j) for j in range(100)))
        f.flush()
        time.sleep(0.1)
PY
}

agent_load() { # GRPC HTTP HEALTH METRICS PODS
  wait_port "$1"
  pod_lines "$5"
  send_all "$1" "$2"
  curl -s "http://127.0.0.1:$3/" >/dev/null || true
  curl -s "http://127.0.0.1:$4/metrics" >/dev/null || true
  sleep 3
}

plain_load() { # FILE
  python3 - "$1" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write("2024-01-02T03:04:05.123Z INFO request %d handled path=/api/v1/items status=200 duration_ms=12 user=alice\n" % i)
PY
  sleep 8
}

n=0
for bin in "${bins[@]}"; do
  n=$((n + 1))
  for cfg in agent gateway; do
    gin=$(port) hin=$(port) hc=$(port) mp=$(port)
    pods=$work/pods-$n-$cfg
    mkdir -p "$pods"
    sed "s#/var/log/pods/#$pods/#g" "config/$cfg.yaml" >"$work/$cfg.yaml"
    envs=(OTLP_GRPC_ENDPOINT=127.0.0.1:$gin OTLP_HTTP_ENDPOINT=127.0.0.1:$hin HEALTH_CHECK_ENDPOINT=127.0.0.1:$hc
      METRICS_HOST=127.0.0.1 METRICS_PORT=$mp GATEWAY_ENDPOINT=127.0.0.1:$sg GATEWAY_INSECURE=true
      BACKEND_OTLP_ENDPOINT=127.0.0.1:$sg BACKEND_OTLP_INSECURE=true LOG_LEVEL=warn)
    profile "$bin" "$n-$cfg" "$work/$cfg.yaml" agent_load "$gin" "$hin" "$hc" "$mp" "$pods"
  done
  cat >"$work/plain.yaml" <<YAML
receivers:
  filelog: {include: ["$work/plain-$n.log"], start_at: beginning}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  otlp_http: {endpoint: "http://127.0.0.1:$sh", compression: none}
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    logs: {receivers: [filelog], processors: [batch], exporters: [otlp_http]}
YAML
  envs=()
  profile "$bin" "$n-plain" "$work/plain.yaml" plain_load "$work/plain-$n.log"
done

# The executed functions of the ferrotel binary, each name once. Grouped by the set of workloads that
# ran them, the groups most workloads share first (start-up, the runtime, the OTLP path), so each
# workload's functions sit in a few contiguous runs; first-seen order within a group.
python3 - "$work" "${bins[@]}" >"$work/names" <<'PY'
import os, re, sys
work, bins = sys.argv[1], [os.path.realpath(b) for b in sys.argv[2:]]
first, used = {}, {}
files = sorted((f for f in os.listdir(work) if f.endswith(".cg")), key=lambda f: os.path.getmtime(os.path.join(work, f)))
for f in files:
    workload = f.split("-", 1)[1].removesuffix(".cg")
    obs, fns, ob, cob = {}, {}, None, None
    for line in open(os.path.join(work, f), errors="replace"):
        m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        c, kind, i, name = m.groups()
        if kind == "ob":
            if name:
                obs[i] = os.path.realpath(name) if name.startswith("/") else name
            if c:
                cob = obs.get(i)
            else:
                ob, cob = obs.get(i), None
            continue
        if name:
            fns[i] = re.sub(r"'\d+$", "", name)
        o = cob if (c and cob) else ob
        if c:
            cob = None
        fn = fns.get(i)
        # Not symbols: "0x…" (code without one) and valgrind's "(below main)".
        if o in bins and fn and not fn.startswith("0x") and " " not in fn:
            first.setdefault(fn, len(first))
            used.setdefault(fn, set()).add(workload)
names = sorted(first, key=lambda fn: (-len(used[fn]), sorted(used[fn]), first[fn]))
print("\n".join(names))
PY
{
  grep '^#' layout/ferrotel.order || true
  cat "$work/names"
} >"$work/order"
out=${ORDER_OUT:-layout/ferrotel.order}
mv "$work/order" "$out"
echo "$out: $(wc -l <"$work/names") functions from ${bins[*]}"
