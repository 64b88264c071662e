#!/usr/bin/env bash
# Instruction counts (valgrind callgrind) of the scrape and filelog paths: a fixed workload, counted in
# instructions, which do not depend on the machine's load (wall time and CPU seconds do).
#
#   bash benches/e2e/callgrind.sh prometheus [BIN] [SERIES] [SCRAPES]   (defaults: 10000 series, 4 scrapes)
#   bash benches/e2e/callgrind.sh filelog [BIN] [LINES] [MODE]          (defaults: 200000 lines, plain)
#
#   bash benches/e2e/callgrind.sh grpc [BIN] [SPANS] [COMPRESSION]      (defaults: 200000 spans, none)
#
# BIN defaults to $CARGO_TARGET_DIR/release/ferrotel. Prints the total instructions of the process and
# the inclusive instructions of the scrape loop (`scrape_loop`: fetch, parse, convert, send) or of the filelog reading thread (`Tailer::run`),
# per series scraped or per line read. The prometheus target is the 10k-series page of prometheus.sh,
# served by python's http.server; data goes to the `debug` exporter (basic). filelog reads a file written
# beforehand (`start_at: beginning`, the lines of filelog.sh: MODE plain or container) through `batch`
# and `otlp_http` (compression none) to a python sink that counts the lines it receives.
set -euo pipefail
cd "$(dirname "$0")/../.."
# ferrotel runs itself again with MALLOC_ARENA_MAX=1 when it is unset (src/main.rs); under valgrind that
# second exec would leave callgrind, so set it here.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1}
what=${1:?prometheus or filelog}
bin=${2:-${CARGO_TARGET_DIR:-target}/release/ferrotel}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs $bin under callgrind with config $1 until `$2` (a shell test) is true, then stops it (SIGTERM).
run_callgrind() {
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" --dump-instr=no \
    "$bin" --config "$1" >"$work/ferrotel.out" 2>&1 &
  local vp=$!
  for _ in $(seq 3600); do
    if eval "$2"; then break; fi
    sleep 1
  done
  kill -TERM "$vp"; wait "$vp" || true
}

# Total instructions, and the inclusive count of the first function matching $1.
report() {
  local total incl
  total=$(awk '/^summary:/ {print $2}' "$work/cg.out")
  callgrind_annotate --inclusive=yes "$work/cg.out" > "$work/annotate.txt" 2>/dev/null || true
  [[ -n ${KEEP:-} ]] && cp "$work/cg.out" "$work/annotate.txt" "$KEEP/" 2>/dev/null
  incl=$( (grep -E "$1" "$work/annotate.txt" || true) | head -n1 | awk '{gsub(",","",$1); print $1}')
  python3 - "$total" "${incl:-0}" "$2" "$3" <<'PY'
import sys
total, incl, n, unit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"total instructions: {total:,}  ({total / n:,.0f} per {unit})")
print(f"inclusive in the measured function: {incl:,}  ({incl / n:,.0f} per {unit})")
PY
}

case $what in
prometheus)
  series=${3:-10000} scrapes=${4:-4}
  mkdir -p "$work/www"
  python3 - "$series" > "$work/www/metrics" <<'PY'
import sys
n = int(sys.argv[1])
for f in range(n // 10):
    kind = "counter" if f % 2 == 0 else "gauge"
    name = f"bench_family_{f}" + ("_total" if kind == "counter" else "")
    print(f"# HELP {name} A benchmark family.\n# TYPE {name} {kind}")
    for i in range(10):
        print(f'{name}{{instance_id="i{i}",path="/api/v{f % 7}/items",code="{200 + i}"}} {f * 10 + i}.5')
PY
  tport=$(port)
  (cd "$work/www" && exec python3 -m http.server "$tport" --bind 127.0.0.1 >/dev/null 2>&1) &
  pids+=($!)
  sleep 1
  cat > "$work/c.yaml" <<YAML
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: bench
          scrape_interval: 1s
          static_configs: [{targets: ["127.0.0.1:$tport"]}]
exporters:
  debug: {verbosity: basic}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [prometheus], exporters: [debug]}
YAML
  run_callgrind "$work/c.yaml" "[ \$(grep -c 'data points' \"$work/ferrotel.out\" || true) -ge $scrapes ]"
  done=$(grep -c 'data points' "$work/ferrotel.out" || true)
  echo "scrapes exported: $done (of $series series each)"
  # The scrape loop's task, inclusive (release builds inline `scrape_once` into it).
  report 'prometheus::scrape_loop' "$((done * series))" series
  ;;
filelog)
  lines=${3:-200000} mode=${4:-plain}
  python3 - "$mode" "$work/app.log" "$lines" <<'PY'
import sys
mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    for i in range(n):
        if mode == "plain":
            f.write("2024-01-02T03:04:05.123Z INFO request %d handled path=/api/v1/items status=200 duration_ms=12 user=alice\n" % i)
        else:
            f.write("2024-01-02T03:04:05.123456789Z stdout F request %d handled path=/api/v1/items status=200 duration_ms=12\n" % i)
PY
  sport=$(port)
  python3 - "$sport" "$work/count" <<'PY' &
import sys, http.server, socketserver
count_file = sys.argv[2]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global n
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        n += body.count(b" handled path=")
        open(count_file, "w").write(str(n))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
  pids+=($!)
  ops=""
  [[ $mode == container ]] && ops="    include_file_path: true
    operators: [{type: container, format: containerd, add_metadata_from_filepath: false}]"
  cat > "$work/c.yaml" <<YAML
receivers:
  filelog:
    include: ["$work/app.log"]
    start_at: beginning
$ops
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  otlp_http:
    endpoint: "http://127.0.0.1:$sport"
    compression: none
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    logs: {receivers: [filelog], processors: [batch], exporters: [otlp_http]}
YAML
  run_callgrind "$work/c.yaml" "n=\$(cat \"$work/count\" 2>/dev/null || true); [ \"\${n:-0}\" -ge $lines ]"
  echo "lines received by the sink: $(cat "$work/count" 2>/dev/null || echo 0) of $lines"
  report 'Tailer::run' "$lines" line
  ;;
grpc)
  # The OTLP/gRPC pass-through: otlp (gRPC) -> batch -> otlp_grpc with COMPRESSION to ferrotel-loadgen's
  # sink; SPANS spans of the load generator (100 per request, 10 attributes) at a fixed rate. Reports
  # the whole process per span (the receiver, the batch, the exporter and the runtime).
  spans=${3:-200000} compression=${4:-none}
  loadgen=$(dirname "$bin")/ferrotel-loadgen
  sg=$(port) st=$(port) gin=$(port)
  "$loadgen" --threads 1 sink --grpc "127.0.0.1:$sg" --stats "127.0.0.1:$st" >/dev/null 2>&1 &
  pids+=($!)
  cat > "$work/c.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$gin"}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  otlp_grpc:
    endpoint: "127.0.0.1:$sg"
    tls: {insecure: true}
    compression: $compression
service:
  telemetry: {logs: {level: warn}, metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc]}
YAML
  (
    until (echo >"/dev/tcp/127.0.0.1/$gin") 2>/dev/null; do sleep 0.5; done
    "$loadgen" --threads 1 send --signal traces --protocol grpc --endpoint "127.0.0.1:$gin" \
      --items-per-request 100 --attributes 10 --connections 4 --rate 20000 --count "$spans" \
      --retry --json >"$work/send.json" 2>/dev/null
    "$loadgen" stats --sink "127.0.0.1:$st" --expect "$spans" --settle 20s --timeout 600s \
      >"$work/stats.json" 2>/dev/null
    touch "$work/done"
  ) &
  pids+=($!)
  run_callgrind "$work/c.yaml" "[ -e \"$work/done\" ]"
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique"])' "$work/stats.json")
  echo "spans received by the sink: $got of $spans (compression $compression)"
  report 'tokio::runtime::task::raw::poll' "$spans" span
  ;;
*) echo "unknown workload $what" >&2; exit 2 ;;
esac
