"""Score a checkpoint on an EvalSet: batched inference, then engine.metrics. No Django here;
the worker's glue records the result on a report."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dataset.eval_sets import EvalSet
from engine import metrics
from engine.checkpoints import inference_of, load_verified_checkpoint
from engine.hardware import describe_hardware, pick_device, pick_precision
from engine.inference import predict_logits
from engine.results import EvaluationResult

BATCH_SIZE = 1000  # images per forward pass; inference holds no activations for backward


def evaluate_checkpoint(
    path: Path,
    eval_set: EvalSet,
    *,
    expected_sha256: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Predict every image of the set with the checkpoint's own normalisation and TTA.

    on_progress(images_done, images_total) is called after each batch; it may raise to stop."""
    started = time.perf_counter()
    batch_size = batch_size or BATCH_SIZE
    torch_device = pick_device(device)
    precision = pick_precision(torch_device)
    model, payload = load_verified_checkpoint(path, expected_sha256, torch_device)
    inference = inference_of(payload)
    total = len(eval_set)
    # A copy: datasets hand out read-only arrays, which torch won't wrap without a warning.
    images = torch.from_numpy(np.array(eval_set.images, dtype=np.uint8)).to(torch_device)
    chunks = []
    with torch.no_grad():
        for start in range(0, total, batch_size):
            # The function validation uses: eval mode, normalisation, flip TTA.
            logits = predict_logits(model, images[start:start + batch_size], inference,
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
        device=describe_hardware(torch_device),
        precision=precision,
        seconds=time.perf_counter() - started,
    )
