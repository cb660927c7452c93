#!/usr/bin/env bash
# Train the `fast` preset on CUDA, score it on the test set, and the same on the CPU for the
# ratio: device, precision, seconds, images per second, test accuracy (tools/gpu_check.py).
#   scripts/gpu_check.sh [--limit N] [--epochs N]
# Exits with status 2, saying so, on a machine without a CUDA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# The checkout's .venv, or the image's Python (`docker compose run --rm worker-gpu scripts/gpu_check.sh`).
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m tools.gpu_check "$@"
