#!/usr/bin/env bash
# Install what the tests need (packages, Chromium, Fashion-MNIST), start Redis if it is down,
# lint, and run the whole suite. Extra arguments go to pytest: ./test.sh tests/test_views_runs.py -x
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

ensure_venv requirements-dev.txt
ensure_fashion_mnist
apt_install chromium chromium-driver docker-compose
ensure_redis

say "Linting (ruff, configured in pyproject.toml)"
"$VENV/bin/ruff" check --quiet .
exec "$VENV/bin/python" -m pytest "$@"
