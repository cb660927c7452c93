"""Score a checkpoint on an EvalSet: batched inference, then worker.metrics.

No Django here. The task and `manage.py evaluate` reach this through one service,
classifier.services.evaluation.evaluation_report_run, which records the result.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dataset.eval_sets import EvalSet
from worker import engine, metrics

BATCH_SIZE = 1000  # images per forward pass; inference holds no activations for backward


class CheckpointRefused(ValueError):
    """The file is not the checkpoint that was recorded (changed bytes), or not a checkpoint."""


class CheckpointChanged(CheckpointRefused):
    """The file's bytes are no longer those whose sha256 was recorded."""


@dataclass(frozen=True)
class EvaluationResult:
    summary: metrics.Summary
    class_names: list[str]
    dataset_name: str
    dataset_fingerprint: str
    sample_keys: list[str]
    device: str  # the hardware, in words
    precision: str  # fp32 or bf16, as in the run's validation on this device
    seconds: float  # loading the model, inference and metrics


def load_verified_checkpoint(path: Path, expected_sha256: str | None,
                             device: torch.device | str) -> tuple[torch.nn.Module, dict]:
    """Hash and load the same bytes, so the model scored is the one whose sha256 was checked."""
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if expected_sha256 and actual != expected_sha256:
        raise CheckpointChanged(
            f"The checkpoint file {path} has changed since it was written: its sha256 is {actual}, "
            f"but {expected_sha256} was recorded. Refusing to evaluate it."
        )
    try:
        return engine.load_checkpoint(io.BytesIO(data), device)
    except Exception as exc:  # noqa: BLE001 - torch raises several kinds for a file it can't read
        raise CheckpointRefused(f"{path} is not a checkpoint this version can read ({exc})") from None


def evaluate_checkpoint(
    path: Path,
    eval_set: EvalSet,
    *,
    expected_sha256: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Predict every image of the set with the checkpoint's own preprocessing and TTA.

    on_progress(images_done, images_total) is called after each batch; it may raise to stop."""
    started = time.perf_counter()
    batch_size = batch_size or BATCH_SIZE
    torch_device = engine.pick_device(device)
    precision = engine.pick_precision(torch_device)
    model, payload = load_verified_checkpoint(path, expected_sha256, torch_device)
    preset = engine.preset_of(payload)
    total = len(eval_set)
    # A copy: datasets hand out read-only arrays, which torch won't wrap without a warning.
    images = torch.from_numpy(np.array(eval_set.images, dtype=np.uint8)).to(torch_device)
    chunks = []
    with torch.no_grad():
        for start in range(0, total, batch_size):
            # predict_logits is the function validation uses: eval mode, normalisation, flip TTA.
            logits = engine.predict_logits(model, images[start:start + batch_size], preset,
                                           batch_size=batch_size, precision=precision)
            chunks.append(logits.float().cpu().numpy())
            if on_progress is not None:
                on_progress(min(start + batch_size, total), total)
    logits = np.concatenate(chunks) if chunks else np.zeros((0, len(payload["class_names"])), np.float32)
    summary = metrics.summarize(eval_set.labels, logits)
    return EvaluationResult(
        summary=summary,
        class_names=list(payload["class_names"]),
        dataset_name=eval_set.name,
        dataset_fingerprint=eval_set.fingerprint,
        sample_keys=list(eval_set.sample_keys),
        device=engine.describe_hardware(torch_device),
        precision=precision,
        seconds=time.perf_counter() - started,
    )
