"""Everything that changes a training run, whoever asks: a page, the admin, a command, a task.

A run's status moves only forward, queued -> running -> succeeded | failed | cancelled,
and every move is a conditional UPDATE, so two workers (or a worker and the sweep) can
never both own a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from classifier.models import Checkpoint, EpochLog, RunStatus, TrainingRun
from classifier.selectors.photos import photos_training_snapshot
from worker.config import ConfigError, TrainConfig

logger = logging.getLogger(__name__)


class RunLost(Exception):
    """The worker no longer owns the run (the sweep failed it, or it was never claimed)."""


class RunCancelRequested(Exception):
    """Staff asked to cancel a running run; the worker stops at this point."""


def _enqueue_training(run_id: int) -> None:
    # Imported here: worker.tasks pulls in Celery task machinery the web only needs to send.
    from worker.tasks.training import train_run

    train_run.delay(run_id)


def training_run_create(*, created_by: AbstractBaseUser | None, config: TrainConfig,
                        note: str = "") -> TrainingRun:
    """Record a queued run and send it to a worker once the transaction commits."""
    config.validate()
    run = TrainingRun.objects.create(
        config=config.to_dict(), preset=config.preset, seed=config.seed, note=note,
        created_by=created_by,
    )
    transaction.on_commit(lambda: _enqueue_training(run.pk))
    logger.info("run %s queued by %s: %s", run.pk, created_by, config.to_dict())
    return run


def training_run_create_finetune(*, created_by: AbstractBaseUser | None, parent: Checkpoint, with_photos: bool,
                                 note: str = "", **overrides) -> TrainingRun:
    """Queue a fine-tune of ``parent``: Fashion-MNIST, plus the train part of the labelled photos
    when ``with_photos``. Which photos, with which labels, is frozen now (with a fingerprint), so
    the run can be reproduced whatever is relabelled later. Staff only when a person asks."""
    if created_by is not None and not created_by.is_staff:
        raise PermissionDenied("only staff can start fine-tunes")
    if parent.run.status != RunStatus.SUCCEEDED:
        raise ValidationError("fine-tune a checkpoint of a succeeded run")
    try:
        config = TrainConfig.for_finetune(parent.run.config, finetune_from=parent.pk, with_photos=with_photos,
                                          **overrides)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from None
    snapshot = photos_training_snapshot() if with_photos else []
    if with_photos and not snapshot:
        raise ValidationError("no labelled photos in the train part yet: label some photos first "
                              "(about 70 % of photos are in the train part)")
    run = TrainingRun.objects.create(
        config=config.to_dict(), preset=config.preset, seed=config.seed, note=note, created_by=created_by,
        parent_checkpoint=parent,
        photo_snapshot=[[photo_id, label] for photo_id, _, label in snapshot] if with_photos else None,
        photo_snapshot_fingerprint=snapshot_fingerprint(snapshot) if with_photos else "",
    )
    transaction.on_commit(lambda: _enqueue_training(run.pk))
    logger.info("fine-tune run %s of checkpoint %s queued by %s with %d photos", run.pk, parent.pk, created_by,
                len(snapshot))
    return run


def snapshot_fingerprint(snapshot: list[tuple[int, str, int]]) -> str:
    """sha256 over each photo's id, content hash and label: equal fingerprints, equal training photos."""
    return hashlib.sha256(json.dumps(sorted(snapshot)).encode()).hexdigest()


def training_run_claim(*, run_id: int, worker_host: str) -> TrainingRun | None:
    """Take a queued run for this worker. None if it is gone or someone else has it."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker_host=worker_host,
    )
    if not claimed:
        return None
    return TrainingRun.objects.get(pk=run_id)


def training_run_record_environment(*, run_id: int, device: str, precision: str,
                                    torch_version: str, dataset_fingerprint: str) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        device=device, precision=precision, torch_version=torch_version,
        dataset_fingerprint=dataset_fingerprint,
    )


def training_run_heartbeat(*, run_id: int, progress: float) -> None:
    """Say the worker is alive. Raises RunCancelRequested or RunLost when it should stop."""
    updated = TrainingRun.objects.filter(
        pk=run_id, status=RunStatus.RUNNING, cancel_requested=False
    ).update(heartbeat_at=timezone.now(), progress=progress)
    if updated:
        return
    run = TrainingRun.objects.filter(pk=run_id).only("status", "cancel_requested").first()
    if run is not None and run.status == RunStatus.RUNNING and run.cancel_requested:
        raise RunCancelRequested(run_id)
    raise RunLost(f"run {run_id} is no longer running on this worker")


@dataclass(frozen=True)
class EpochFigures:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float


def training_run_record_epoch(*, run_id: int, figures: EpochFigures, checkpoint_path: Path,
                              sha256: str, size: int, epochs_total: int) -> Checkpoint:
    """Store an epoch's figures and its checkpoint, then keep only the best and the last file."""
    relative = Path(checkpoint_path).resolve().relative_to(Path(settings.CHECKPOINT_ROOT).resolve())
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            raise RunLost(f"run {run_id} is {run.status}, not running")
        EpochLog.objects.create(run=run, **figures.__dict__)
        checkpoint = Checkpoint.objects.create(
            run=run, epoch=figures.epoch, file=str(relative), size=size, sha256=sha256,
            val_acc=figures.val_acc, val_loss=figures.val_loss,
        )
        TrainingRun.objects.filter(pk=run_id).update(
            epochs_done=figures.epoch, progress=figures.epoch / epochs_total,
            heartbeat_at=timezone.now(),
        )
        _prune_checkpoints(run)
    return checkpoint


def _prune_checkpoints(run: TrainingRun) -> None:
    """Best-and-last: delete every other checkpoint row, and its file once committed."""
    checkpoints = list(run.checkpoints.all())
    best = max(checkpoints, key=lambda c: (c.val_acc, -c.epoch))
    last = max(checkpoints, key=lambda c: c.epoch)
    for checkpoint in checkpoints:
        if checkpoint.pk not in (best.pk, last.pk):
            name, storage = checkpoint.file.name, checkpoint.file.storage
            checkpoint.delete()
            transaction.on_commit(lambda name=name, storage=storage: storage.delete(name))


def _finish(run_id: int, status: RunStatus, **fields) -> bool:
    return bool(
        TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=status, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
        )
    )


def training_run_succeed(*, run_id: int) -> bool:
    return _finish(run_id, RunStatus.SUCCEEDED, progress=1.0)


def training_run_fail(*, run_id: int, error: str) -> bool:
    """Mark a run failed with its reason. Runs not yet started can fail too (bad config)."""
    if _finish(run_id, RunStatus.FAILED, error=error):
        return True
    return bool(
        TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        )
    )


def training_run_mark_cancelled(*, run_id: int) -> bool:
    """The worker saw the cancel request and stopped."""
    return _finish(run_id, RunStatus.CANCELLED)


def training_run_cancel(*, run: TrainingRun, user: AbstractBaseUser) -> TrainingRun:
    """Staff only. A queued run is cancelled at once; a running one at its next batch."""
    if not user.is_staff:
        raise PermissionDenied("only staff can cancel runs")
    now = timezone.now()
    if TrainingRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, finished_at=now, cancel_requested=True
    ):
        logger.info("run %s cancelled by %s before it started", run.pk, user)
    elif TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True):
        logger.info("run %s: %s asked to cancel", run.pk, user)
    run.refresh_from_db()
    return run


def training_runs_sweep(*, stale_after_s: int | None = None) -> list[int]:
    """Fail every running run whose worker has gone quiet. Returns the ids it failed.

    Called at worker start, periodically by every worker, and by `manage.py sweep_runs`."""
    stale_after = timedelta(seconds=settings.RUN_STALE_AFTER_S if stale_after_s is None else stale_after_s)
    cutoff = timezone.now() - stale_after
    failed = []
    for run in TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff):
        error = (
            f"The worker stopped responding: no heartbeat since "
            f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S %Z} (worker {run.worker_host or 'unknown'}). "
            "It was probably killed or lost its machine."
        )
        if TrainingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        ):
            failed.append(run.pk)
            logger.warning("run %s marked failed: %s", run.pk, error)
    return failed


__all__ = [
    "EpochFigures", "RunCancelRequested", "RunLost", "training_run_cancel",
    "training_run_claim", "training_run_create", "training_run_fail", "training_run_heartbeat",
    "training_run_mark_cancelled", "training_run_record_environment", "training_run_record_epoch",
    "training_run_succeed", "training_runs_sweep",
]
