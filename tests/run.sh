#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them. Used by CI (.ci/run) and by people.
#   bash tests/run.sh            all tests
#   bash tests/run.sh -k e2e     any extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch is pinned to the CPU build on disk: an unpinned torch would pull gigabytes of CUDA wheels.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e '.[dev]'

# Headless Chromium for the browser test (Debian packages; Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >/dev/null 2>&1 || echo "warning: could not install chromium; the browser test will skip and say so"
fi
# Nginx, for `nginx -t` on the production recipe's config (tests/serving/test_production_recipe.py).
# policy-rc.d 101: install the binary without starting a server.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; rc=$?; rm -f /usr/sbin/policy-rc.d; exit $rc) \
    >/dev/null 2>&1 || echo "warning: could not install nginx; the nginx test will skip and say so"
fi

# PostgreSQL and Redis: use the machine's own; start them if they are installed but stopped.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi

.venv/bin/ruff check app worker tests benchmarks
export TOKENIZERS_PARALLELISM=false
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" = "5" ]; then
  echo "pytest collected no tests: that is a failure here, not a pass" >&2
  exit 1
fi
exit "$code"
