#!/usr/bin/env bash
# Installs what the black-box tests use: the Python and Node.js OpenTelemetry SDKs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt
(cd tests/sdk/node && npm install --no-audit --no-fund --loglevel=error)
