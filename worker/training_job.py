"""Where a TrainingRun record meets the engine: data in, progress and epochs out to services."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from classifier.models import TrainingRun
from classifier.services import training as training_services
from dataset.fashion_mnist import training_data
from worker import engine
from worker.config import TrainConfig


class _Heartbeat:
    """Turns per-batch progress into a database write at most once per interval.

    Each write also asks whether the run was cancelled, so cancelling takes effect within
    one interval (RUN_HEARTBEAT_S, a second by default) plus the batch in flight."""

    def __init__(self, run_id: int, interval_s: float) -> None:
        self.run_id = run_id
        self.interval_s = interval_s
        self.last = 0.0

    def __call__(self, progress: engine.Progress) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            training_services.training_run_heartbeat(run_id=self.run_id, progress=progress.fraction)


def train_and_record(run: TrainingRun) -> None:
    config = TrainConfig.from_dict(run.config)
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)

    def on_start(device, precision: str) -> None:
        training_services.training_run_record_environment(
            run_id=run.pk, device=engine.describe_hardware(device), precision=precision,
            torch_version=engine.torch_version(), dataset_fingerprint=data.fingerprint,
        )

    def on_epoch(result: engine.EpochResult, saved: engine.SavedCheckpoint) -> None:
        training_services.training_run_record_epoch(
            run_id=run.pk, figures=training_services.EpochFigures(**result.__dict__),
            checkpoint_path=saved.path, sha256=saved.sha256, size=saved.size,
            epochs_total=config.epochs,
        )

    engine.train(
        config,
        train_images=data.train_images, train_labels=data.train_labels,
        val_images=data.val_images, val_labels=data.val_labels,
        checkpoint_dir=Path(settings.CHECKPOINT_ROOT) / f"run-{run.pk}",
        on_start=on_start,
        on_progress=_Heartbeat(run.pk, interval_s=settings.RUN_HEARTBEAT_S),
        on_epoch=on_epoch,
    )
