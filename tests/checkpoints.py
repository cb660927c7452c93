"""A real checkpoint file and its records, without training: a freshly initialised model of a
preset, saved the way the engine saves one, under this test's CHECKPOINT_ROOT."""

from __future__ import annotations

from pathlib import Path

import torch
from django.conf import settings

from classifier.models import Checkpoint, JobStatus
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
    relative = Path(f"run-{run.pk}") / "epoch-001.pt"
    path = Path(settings.CHECKPOINT_ROOT) / relative
    sha256 = save_checkpoint(path, checkpoint_payload(model, optimizer, config, result))
    return Checkpoint.objects.create(run=run, epoch=1, file=str(relative), size=path.stat().st_size,
                                     sha256=sha256, val_acc=val_acc, val_loss=2.3)
