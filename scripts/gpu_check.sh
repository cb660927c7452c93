#!/usr/bin/env bash
# Train the `fast` preset on CUDA, score it on the test set, and the same on the CPU for the
# ratio: device, precision, seconds, images per second, test accuracy (tools/gpu_check.py).
#   scripts/gpu_check.sh [--limit N] [--epochs N]
# Exits with status 2, saying so, on a machine without a CUDA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m tools.gpu_check "$@"
