#!/usr/bin/env bash
# Installs what the black-box tests use: the Python and Node.js OpenTelemetry SDKs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt
(cd tests/sdk/node && npm ci --no-audit --no-fund --loglevel=error)
# `ferrotel top` is tested in a real terminal under tmux (tests/top.rs).
if ! command -v tmux >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux) \
    || echo "warning: could not install tmux; tests/top.rs needs it" >&2
fi
# tests/prometheus.rs runs the real Prometheus and node_exporter (Debian: 2.42 and 1.5).
if [[ ! -x /usr/bin/prometheus || ! -x /usr/bin/prometheus-node-exporter ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-node-exporter) \
    || echo "warning: could not install prometheus; tests/prometheus.rs needs it" >&2
fi
# The Jaeger exporters' last releases pin an older SDK: their own venv (tests/jaeger_zipkin.rs).
if [[ ! -x .venv-jaeger/bin/python ]]; then
  python3 -m venv .venv-jaeger
fi
.venv-jaeger/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/jaeger/requirements.txt
