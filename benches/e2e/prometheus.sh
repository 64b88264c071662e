#!/usr/bin/env bash
# Scrape cost: ferrotel's `prometheus` receiver against Prometheus itself, scraping the same
# 10k-series target (text format) every second for DURATION seconds, one after the other.
#
#   bash benches/e2e/prometheus.sh [SERIES] [DURATION]      (defaults 10000, 30)
#
# ferrotel: CPU seconds (utime+stime from /proc/PID/stat) over the window, per scrape and per series,
# peak RSS (VmHWM); data goes to the `debug` exporter (basic: one line per batch).
# Prometheus: process_cpu_seconds_total before/after over the same window, minus the same window with
# no target (its idle cost), per scrape and per series. Prometheus also appends to its TSDB, so this
# is an upper bound of its scrape cost.
# Remote write: ferrotel-loadgen sends RATE metric points/s (OTLP/gRPC, 100 per request) through
# otlp → batch → prometheusremotewrite to a null endpoint (answers 204); ferrotel CPU per point.
# Needs: target/release/ferrotel and ferrotel-loadgen, /usr/bin/prometheus, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
series=${1:-10000} duration=${2:-30} rate=${RATE:-100000}
ferrotel=${FERROTEL_BIN:-${CARGO_TARGET_DIR:-target}/release/ferrotel}
loadgen=$(dirname "$ferrotel")/ferrotel-loadgen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# The target: SERIES series in families of 10 (half counters, half gauges), served as a static file.
python3 - "$series" > "$work/metrics" <<'PY'
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
mkdir -p "$work/www" && mv "$work/metrics" "$work/www/metrics"
(cd "$work/www" && exec python3 -m http.server "$tport" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
sleep 1

# ferrotel
cat > "$work/ferrotel.yaml" <<YAML
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
"$ferrotel" --config "$work/ferrotel.yaml" > "$work/ferrotel.out" 2>&1 &
fpid=$!; pids+=($fpid)
sleep 3
t0=$(ticks $fpid)
sleep "$duration"
t1=$(ticks $fpid)
rss=$(awk '/VmHWM/{print $2}' /proc/$fpid/status)
kill $fpid
f_cpu=$(python3 -c "print(($t1-$t0)/$hz)")

# Prometheus: idle window, then the same target.
prom_cpu() {  # $1 = config; prints CPU seconds over the window
  local pport; pport=$(port)
  echo "$1" > "$work/prom.yml"
  rm -rf "$work/tsdb"
  /usr/bin/prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$pport" > "$work/prom.out" 2>&1 &
  local ppid=$!
  sleep 5
  local a b
  a=$(ticks $ppid); sleep "$duration"; b=$(ticks $ppid)
  kill $ppid; wait $ppid 2>/dev/null || true
  python3 -c "print(($b-$a)/$hz)"
}
p_idle=$(prom_cpu "global: {scrape_interval: 1m}")
p_busy=$(prom_cpu "scrape_configs: [{job_name: bench, scrape_interval: 1s, static_configs: [{targets: ['127.0.0.1:$tport']}]}]")

python3 - "$series" "$duration" "$f_cpu" "$rss" "$p_idle" "$p_busy" <<'PY'
import sys
series, dur, f, rss, pi, pb = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:])
scrapes = dur  # one per second
p = max(pb - pi, 0.0)
print(f"| scraper | CPU s / scrape | CPU µs / series | peak RSS |")
print(f"|---|---|---|---|")
print(f"| ferrotel `prometheus` receiver → debug | {f/scrapes:.4f} | {f/scrapes/series*1e6:.2f} | {rss/1024:.0f} MiB |")
print(f"| Prometheus 2.42 (scrape + TSDB append, idle subtracted) | {p/scrapes:.4f} | {p/scrapes/series*1e6:.2f} | |")
PY

# Remote write to a null endpoint.
if [[ ! -x $loadgen ]]; then
  echo "(remote write row skipped: $loadgen not built; cargo build --release --bins)"
  exit 0
fi
nport=$(port)
python3 - "$nport" <<'PY' &
import sys, http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)
gport=$(port)
cat > "$work/rw.yaml" <<YAML
receivers:
  otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$gport"}}}
processors:
  batch: {}
exporters:
  prometheusremotewrite:
    endpoint: http://127.0.0.1:$nport/api/v1/write
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics: {receivers: [otlp], processors: [batch], exporters: [prometheusremotewrite]}
YAML
"$ferrotel" --config "$work/rw.yaml" > "$work/rw.out" 2>&1 &
rpid=$!; pids+=($rpid)
sleep 2
t0=$(ticks $rpid)
out=$("$loadgen" send --signal metrics --endpoint "127.0.0.1:$gport" --rate "$rate" --duration "${duration}s" --json 2>/dev/null | tail -n1)
t1=$(ticks $rpid)
python3 - "$out" "$t0" "$t1" "$hz" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
acc = r.get("items_accepted", 0)
print(f"| ferrotel otlp → batch → prometheusremotewrite, {r.get('achieved_rate', 0):.0f} points/s | {cpu:.2f} CPU s for {acc} points | {cpu / max(acc, 1) * 1e6:.2f} CPU µs / point | |")
PY
