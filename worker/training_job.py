"""Where a TrainingRun record meets the engine: data in, progress and epochs out to services."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from django.conf import settings

from classifier.models import Photo, TrainingRun, model_input_array
from classifier.services import training as training_services
from dataset.fashion_mnist import training_data
from worker import engine
from worker.config import TrainConfig
from worker.evaluation import CheckpointChanged, load_verified_checkpoint


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


def parent_weights(run: TrainingRun) -> dict | None:
    """A fine-tune's starting point: its parent checkpoint's weights, from a file whose sha256 still
    matches the one recorded when it was written (a swapped file is refused, never trained on)."""
    if run.parent_checkpoint_id is None:
        return None
    parent = run.parent_checkpoint
    path = Path(settings.CHECKPOINT_ROOT) / parent.file.name
    if not path.is_file():
        raise FileNotFoundError(f"the parent checkpoint's file is missing: {parent.file.name}")
    try:
        _model, payload = load_verified_checkpoint(path, parent.sha256, "cpu")
    except CheckpointChanged:
        raise ValueError(f"the parent checkpoint's file {parent.file.name} no longer matches its sha256") from None
    recipe = TrainConfig.from_dict(run.config).recipe
    if (payload["arch"], list(payload["layers"]), payload["head"]) != (recipe.arch, list(recipe.layers), recipe.head):
        # A preset retuned since the parent was trained has other layers: its weights can't be loaded.
        raise ValueError(
            f"the parent checkpoint's architecture ({payload['arch']} {payload['layers']}, head {payload['head']}) "
            f"differs from the `{recipe.name}` preset's now ({recipe.arch} {list(recipe.layers)}, head {recipe.head}); "
            "fine-tune a checkpoint trained with the current preset"
        )
    return payload["model"]


def snapshot_photos(run: TrainingRun) -> tuple[np.ndarray, np.ndarray] | None:
    """The photos (28x28, as the model sees them) and labels frozen in the run's snapshot. Only
    train-part photos can be in a snapshot; the filter on held_out makes sure of it again."""
    if not run.photo_snapshot:
        return None
    wanted = dict(run.photo_snapshot)
    stored = dict(Photo.objects.filter(pk__in=wanted, held_out=False).values_list("pk", "model_input"))
    missing = sorted(set(wanted) - set(stored))
    if missing:
        raise ValueError(f"{len(missing)} photo(s) of this run's snapshot are gone or held out: "
                         f"{', '.join(map(str, missing[:10]))}")
    ids = sorted(wanted)
    images = np.stack([model_input_array(stored[i]) for i in ids])
    return images, np.asarray([wanted[i] for i in ids], dtype=np.int64)


def train_and_record(run: TrainingRun) -> None:
    config = TrainConfig.from_dict(run.config)
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
    init_state = parent_weights(run)
    photos = snapshot_photos(run) if config.with_photos else None

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
        init_state=init_state,
        extra_train=(*photos, config.photo_weight) if photos is not None else None,
    )
