"""A real checkpoint file and its records, without training: a freshly initialised model of a
preset, saved the way the engine saves one and stored as training stores it (in this test's
CHECKPOINT_ROOT, or the bucket)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from django.core.files import File

from classifier.models import Checkpoint, JobStatus
from classifier.storage import checkpoint_storage
from engine.checkpoints import checkpoint_payload, save_checkpoint
from engine.model import build_preset_model
from engine.results import EpochResult
from engine.training import make_optimizer
from tests.factories import TrainingRunFactory, tiny_config


def saved_checkpoint(*, preset: str = "seed", seed: int = 0, val_acc: float = 0.5) -> Checkpoint:
    config = tiny_config(preset=preset, seed=seed)
    run = TrainingRunFactory(config=config.to_dict(), status=JobStatus.SUCCEEDED)
    torch.manual_seed(seed)
    model = build_preset_model(config.recipe)
    optimizer = make_optimizer(model, config)
    result = EpochResult(epoch=1, train_loss=2.3, train_acc=0.1, val_loss=2.3, val_acc=val_acc,
                                seconds=0.1, lr=config.lr)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "epoch-001.pt"
        sha256 = save_checkpoint(path, checkpoint_payload(model, optimizer, config, result))
        with open(path, "rb") as handle:
            name = checkpoint_storage.save(f"run-{run.pk}/epoch-001.pt", File(handle))
        size = path.stat().st_size
    return Checkpoint.objects.create(run=run, epoch=1, file=name, size=size, sha256=sha256, val_acc=val_acc,
                                     val_loss=2.3)
