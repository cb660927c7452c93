"""Reads for the run pages, the admin and the train command."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.files import File
from django.db.models import Max, QuerySet
from django.shortcuts import get_object_or_404

from classifier.models import Checkpoint, TrainingRun
from classifier.selectors.photos import checkpoint_for_prediction


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


class CheckpointFileProblem(Exception):
    """The checkpoint's file can't be used; the message says why, for a page. `missing`: there is
    no file at all (rather than one with other bytes)."""

    def __init__(self, message: str, *, missing: bool):
        super().__init__(message)
        self.missing = missing


def checkpoint_file_open_verified(*, checkpoint: Checkpoint) -> File:
    """The checkpoint's file, open at its start, once its bytes are checked against the sha256
    recorded when it was written (raises CheckpointFileProblem otherwise). Read once and handed
    out as checked: from a bucket, the bytes hashed are the bytes served, in one fetch."""
    try:
        handle = checkpoint.file.storage.open(checkpoint.file.name, "rb")
    except (FileNotFoundError, OSError):
        raise CheckpointFileProblem(f"The file of checkpoint #{checkpoint.pk} ({checkpoint.file.name}) is missing.",
                                    missing=True) from None
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    if digest.hexdigest() != checkpoint.sha256:
        handle.close()
        raise CheckpointFileProblem(
            f"The file of checkpoint #{checkpoint.pk} has changed since it was written (its sha256 no longer "
            "matches the one recorded); it can't be used.", missing=False)
    handle.seek(0)
    return handle


def checkpoint_file_problem(*, checkpoint: Checkpoint) -> str | None:
    """Why the checkpoint's file can't be used (missing, or not the bytes whose sha256 was
    recorded when it was written), or None when it is intact. Hashing a few MB costs
    milliseconds, and a swapped file must never become the model that predicts."""
    try:
        checkpoint_file_open_verified(checkpoint=checkpoint).close()
    except CheckpointFileProblem as problem:
        return str(problem)
    return None


@dataclass(frozen=True)
class Downloadable:
    """Which checkpoints a user may download: `checkpoint.pk in downloadable` (in templates too)."""

    every: bool
    ids: frozenset[int]

    def __contains__(self, checkpoint_id: object) -> bool:
        return self.every or checkpoint_id in self.ids


def checkpoints_downloadable_by(*, user) -> Downloadable:
    """Staff download any checkpoint; other signed-in users only the model that predicts the
    photos (to reproduce its predictions), not every experiment behind it."""
    if user.is_staff:
        return Downloadable(every=True, ids=frozenset())
    active = checkpoint_for_prediction()
    return Downloadable(every=False, ids=frozenset([active.pk] if active else []))


def checkpoints_for_list() -> QuerySet[Checkpoint]:
    """Every checkpoint kept (the best and the last of each run), newest run first."""
    return Checkpoint.objects.select_related("run").order_by("-run_id", "-epoch")
