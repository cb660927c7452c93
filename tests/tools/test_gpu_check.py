"""scripts/gpu_check.sh: a clear exit without CUDA, and the whole check run end to end with the
CPU standing in for the GPU (a smoke test: its figures are not compared with anything)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dataset.fashion_mnist import DatasetNotFound, find_data_dir

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "scripts" / "gpu_check.sh")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], cwd=REPO, env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: scripts/gpu_check.sh measures it")
def test_without_cuda_it_says_so_and_exits_2():
    result = _run()
    assert result.returncode == 2
    assert result.stderr.startswith("No CUDA GPU here") and "nothing to check" in result.stderr
    assert result.stdout == ""


def test_the_whole_check_runs_with_the_cpu_standing_in():
    try:
        find_data_dir()
    except DatasetNotFound as exc:
        pytest.skip(str(exc))
    result = _run("--gpu-device", "cpu", "--limit", "256", "--epochs", "1", "--threads", "1", "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for label in ("device", "precision", "training seconds", "training images/s", "inference images/s",
                  "test accuracy"):
        assert any(line.startswith(label) for line in lines), (label, result.stdout)
    assert "256 x 1" in result.stdout and result.stdout.count("% of 10,000") == 2
    assert lines[-1].startswith("GPU side / CPU side: training x")
