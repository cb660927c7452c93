"""Reads for the run pages, the admin and the train command."""

from __future__ import annotations

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
