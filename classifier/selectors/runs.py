"""Reads for the run pages, the admin and the train command."""

from __future__ import annotations

import hashlib

from django.db.models import Max, QuerySet
from django.shortcuts import get_object_or_404

from classifier.models import Checkpoint, TrainingRun


def runs_for_list() -> QuerySet[TrainingRun]:
    return (
        TrainingRun.objects.select_related("created_by")
        .annotate(best_val_acc=Max("epochs__val_acc"))
        .prefetch_related("checkpoints")
    )


def run_get(*, run_id: int) -> TrainingRun:
    return get_object_or_404(TrainingRun.objects.select_related("created_by", "parent_checkpoint"), pk=run_id)


def run_epochs(*, run: TrainingRun) -> list:
    return list(run.epochs.order_by("epoch"))


def run_checkpoints(*, run: TrainingRun) -> list[Checkpoint]:
    return list(run.checkpoints.order_by("epoch"))


def run_best_checkpoint(*, run: TrainingRun) -> Checkpoint | None:
    return run.checkpoints.order_by("-val_acc", "epoch").first()


def checkpoint_get(*, checkpoint_id: int) -> Checkpoint:
    return get_object_or_404(Checkpoint.objects.select_related("run"), pk=checkpoint_id)


def checkpoint_file_problem(*, checkpoint: Checkpoint) -> str | None:
    """Why the checkpoint's file can't be used (missing, or not the bytes whose sha256 was
    recorded when it was written), or None when it is intact. Hashing a few MB costs
    milliseconds, and a swapped file must never become the model that predicts."""
    digest = hashlib.sha256()
    try:
        with checkpoint.file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except (FileNotFoundError, OSError):
        return f"The file of checkpoint #{checkpoint.pk} ({checkpoint.file.name}) is missing."
    if digest.hexdigest() != checkpoint.sha256:
        return (f"The file of checkpoint #{checkpoint.pk} has changed since it was written (its sha256 no longer "
                "matches the one recorded); it can't be used.")
    return None
