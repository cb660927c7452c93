"""Everything that changes a training run, whoever asks: a page, the admin, a command, a task.

Its life cycle (claim, heartbeat, cancel, finish, sweep) is every job's: classifier.services.jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from classifier.models import Checkpoint, EpochLog, JobStatus, Tag, TrainingRun
from classifier.selectors.photos import photos_training_snapshot
from classifier.services.jobs import JobLost, job_enqueue
from classifier.storage import checkpoint_storage
from engine.config import ConfigError, TrainConfig
from engine.results import EpochResult

logger = logging.getLogger(__name__)


def training_run_create(*, created_by: AbstractBaseUser | None, config: TrainConfig,
                        note: str = "") -> TrainingRun:
    """Record a queued run and send it to a worker once the transaction commits."""
    config.validate()
    run = TrainingRun.objects.create(
        config=config.to_dict(), preset=config.preset, seed=config.seed, note=note,
        created_by=created_by,
    )
    job_enqueue(job=run)
    logger.info("run %s queued by %s: %s", run.pk, created_by, config.to_dict())
    return run


def training_run_create_finetune(*, created_by: AbstractBaseUser | None, parent: Checkpoint, with_photos: bool,
                                 note: str = "", **overrides) -> TrainingRun:
    """Queue a fine-tune of ``parent``: Fashion-MNIST, plus the train part of the labelled photos
    when ``with_photos``. Which photos, with which labels, is frozen now (with a fingerprint), so
    the run can be reproduced whatever is relabelled later. Staff only when a person asks."""
    if created_by is not None and not created_by.is_staff:
        raise PermissionDenied("only staff can start fine-tunes")
    if parent.run.status != JobStatus.SUCCEEDED:
        raise ValidationError("fine-tune a checkpoint of a succeeded run")
    config = finetune_config(parent=parent, with_photos=with_photos, **overrides)
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
    job_enqueue(job=run)
    logger.info("fine-tune run %s of checkpoint %s queued by %s with %d photos", run.pk, parent.pk, created_by,
                len(snapshot))
    return run


def finetune_config(*, parent: Checkpoint, with_photos: bool, **overrides) -> TrainConfig:
    """What a fine-tune of ``parent`` would train with (blank overrides: the fine-tune defaults);
    ValidationError with the reason when it can't be trained."""
    try:
        return TrainConfig.for_finetune(parent.run.config, finetune_from=parent.pk, with_photos=with_photos,
                                        **overrides)
    except ConfigError as exc:
        raise ValidationError(str(exc)) from None


def snapshot_fingerprint(snapshot: list[tuple[int, str, int]]) -> str:
    """sha256 over each photo's id, content hash and label: equal fingerprints, equal training photos."""
    return hashlib.sha256(json.dumps(sorted(snapshot)).encode()).hexdigest()


def training_run_record_environment(*, run_id: int, device: str, precision: str,
                                    torch_version: str, dataset_fingerprint: str) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        device=device, precision=precision, torch_version=torch_version,
        dataset_fingerprint=dataset_fingerprint,
    )


def training_run_record_plan(*, run_id: int, plan: dict) -> None:
    """How long the run trains, as its worker fixed it (from its measured speed, with a budget)."""
    TrainingRun.objects.filter(pk=run_id, status=JobStatus.RUNNING).update(plan=plan)


def training_run_record_epoch(*, run_id: int, figures: EpochResult, checkpoint_file: Path,
                              sha256: str, size: int, epochs_total: int) -> Checkpoint:
    """Store an epoch's figures and its checkpoint, then keep only the best and the last file.

    checkpoint_file is the worker's local copy: it is stored through STORAGES["checkpoints"]
    (CHECKPOINT_ROOT, or the bucket) as run-N/epoch-NNN.pt; the caller may delete it then."""
    # Stored before the transaction: an upload can take seconds, and the run's row is locked
    # inside it. A name already taken (a crashed attempt's leftover) gets a new one.
    with open(checkpoint_file, "rb") as handle:
        name = checkpoint_storage.save(f"run-{run_id}/epoch-{figures.epoch:03d}.pt", File(handle))
    try:
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            if run.status != JobStatus.RUNNING:
                raise JobLost(f"run {run_id} is {run.status}, not running")
            EpochLog.objects.create(run=run, **asdict(figures))
            checkpoint = Checkpoint.objects.create(
                run=run, epoch=figures.epoch, file=name, size=size, sha256=sha256,
                val_acc=figures.val_acc, val_loss=figures.val_loss,
            )
            TrainingRun.objects.filter(pk=run_id).update(
                epochs_done=figures.epoch, progress=min(1.0, figures.epoch / epochs_total),
                heartbeat_at=timezone.now(),
            )
            _prune_checkpoints(run)
    except BaseException:
        checkpoint_storage.delete(name)  # no row will ever point at it
        raise
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


MAX_TAGS = 12


def tags_parse(text: str) -> list[str]:
    """"baseline, LR sweep" -> ["baseline", "lr-sweep"]: commas separate tags; each becomes a
    lower-case slug. A tag that has no letter or digit left is refused with its text."""
    tags: list[str] = []
    for raw in text.split(","):
        if not raw.strip():
            continue
        tag = slugify(raw.strip(), allow_unicode=True)[:40]
        if not tag:
            raise ValidationError(f"{raw.strip()!r} is not a usable tag: use letters, digits, - or _.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags a run ({len(tags)} given)")
    return tags


def training_run_can_edit(*, run: TrainingRun, user: AbstractBaseUser) -> bool:
    """Its note, tags and archiving: whoever started the run, or staff."""
    return user.is_authenticated and (user.is_staff or (run.created_by_id is not None and run.created_by_id == user.pk))


def _require_edit(run: TrainingRun, user: AbstractBaseUser) -> None:
    if not training_run_can_edit(run=run, user=user):
        raise PermissionDenied(f"only staff or whoever started run #{run.pk} can change it")


@transaction.atomic
def training_run_describe(*, run: TrainingRun, user: AbstractBaseUser, note: str, tags: list[str]) -> TrainingRun:
    """Set the run's note and tags (tags as tags_parse gives them); staff or its owner."""
    _require_edit(run, user)
    run.note = note.strip()[:200]
    run.save(update_fields=["note"])
    run.tags.set([Tag.objects.get_or_create(name=name)[0] for name in tags])
    logger.info("run %s described by %s: %r, tags %s", run.pk, user, run.note, tags)
    return run


def training_run_archive(*, run: TrainingRun, user: AbstractBaseUser, archived: bool) -> TrainingRun:
    """Hide the run from the run list (``archived``) or bring it back; nothing is deleted.
    Staff or its owner; an active run can't be archived (it would vanish while it trains)."""
    _require_edit(run, user)
    if archived and run.is_active:
        raise ValidationError(f"run #{run.pk} is {run.status}: cancel it or let it finish before archiving it")
    run.archived_at, run.archived_by = (timezone.now(), user) if archived else (None, None)
    run.save(update_fields=["archived_at", "archived_by"])
    logger.info("run %s %s by %s", run.pk, "archived" if archived else "unarchived", user)
    return run


__all__ = [
    "finetune_config", "snapshot_fingerprint", "tags_parse", "training_run_archive", "training_run_can_edit", "training_run_describe",
    "training_run_create", "training_run_create_finetune", "training_run_record_environment",
    "training_run_record_epoch", "training_run_record_plan",
]
