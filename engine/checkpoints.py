"""Checkpoint files: written atomically, read with weights_only=True, and verified against
the sha256 recorded when they were written before any model is built from them.

A checkpoint is a dict of state_dicts plus plain metadata (architecture, config, class
names, and the inference settings the model is to be used with), so it can resume, load
without unpickling code, and be scored exactly as it was trained.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import torch
import torch.nn as nn

from dataset.classes import CLASS_NAMES
from engine.config import Inference, TrainConfig
from engine.hardware import torch_version
from engine.model import ARCHITECTURES, build_model, to_device
from engine.results import EpochResult

# 2: the architecture's layer list is stored with the weights (format 1 knew only "fast").
CHECKPOINT_FORMAT = 2


class CheckpointRefused(ValueError):
    """The file is not the checkpoint that was recorded, or not a checkpoint; the message says
    which, in words for a job's page."""


class CheckpointChanged(CheckpointRefused):
    """The file's bytes are no longer those whose sha256 was recorded."""


def checkpoint_changed(name: str, *, actual: str, expected: str) -> CheckpointChanged:
    return CheckpointChanged(f"The checkpoint file {name} has changed since it was written (its sha256 is "
                             f"{actual[:12]}…, {expected[:12]}… was recorded); refusing to use it.")


def save_checkpoint(path: Path, payload: dict) -> str:
    """Write atomically (temp file in the same folder, fsync, rename); return the sha256.

    A reader never sees a half-written file, and a crash mid-write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_payload(model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                       result: EpochResult, *, precision: str = "fp32") -> dict:
    """state_dicts plus plain metadata only, so the file loads with weights_only=True. The
    layer list and the inference settings travel with the weights, so retuning a preset
    never orphans old files nor changes how they score."""
    preset = config.recipe
    inference = preset.inference
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": preset.arch,
        "layers": list(preset.layers),
        "head": preset.head,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": result.epoch,
        "metrics": asdict(result),
        "config": config.to_dict(),
        "class_names": list(CLASS_NAMES),
        "preprocessing": {"size": 28, "mean": inference.mean, "std": inference.std, "tta_flip": inference.tta_flip},
        "precision": precision,
        "torch_version": torch_version(),
    }


def inference_of(payload: dict) -> Inference:
    """The normalisation and TTA a checkpoint was trained and validated with: its own record."""
    settings = payload["preprocessing"]
    return Inference(mean=float(settings["mean"]), std=float(settings["std"]), tta_flip=bool(settings["tta_flip"]))


def load_checkpoint(path: Path | BinaryIO, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint file. Never unpickles code (weights_only=True)."""
    device = torch.device(device)
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("arch") not in ARCHITECTURES:
        raise ValueError(f"{path} is not a checkpoint this version can read")
    model = to_device(build_model(payload["arch"], payload["layers"], payload["head"]), device)
    model.load_state_dict(payload["model"])
    model.eval()
    return model, payload


def load_verified_checkpoint(path: Path, expected_sha256: str | None,
                             device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Hash and load the same bytes, so the model used is the one whose sha256 was checked."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointRefused(f"The checkpoint file {path} is missing.") from None
    actual = hashlib.sha256(data).hexdigest()
    if expected_sha256 and actual != expected_sha256:
        raise checkpoint_changed(Path(path).name, actual=actual, expected=expected_sha256)
    try:
        return load_checkpoint(io.BytesIO(data), device)
    except Exception as exc:  # noqa: BLE001 - torch raises several kinds for a file it can't read
        raise CheckpointRefused(f"{Path(path).name} is not a checkpoint this version can read ({exc})") from None
