"""Reads about the active model and its history."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, QuerySet

from classifier.models import Checkpoint, JobStatus, Promotion


def promotion_latest() -> Promotion | None:
    return Promotion.objects.select_related("checkpoint__run").order_by("-created_at", "-pk").first()


def active_checkpoint() -> Checkpoint | None:
    """The checkpoint the latest promotion made active; None before anyone promoted one."""
    latest = promotion_latest()
    return latest.checkpoint if latest else None


def best_checkpoint() -> Checkpoint | None:
    """The best succeeded checkpoint by validation accuracy (lower validation loss, then the
    newer run, breaks ties), of runs nobody archived: an archived run is one its owner put away."""
    return (
        Checkpoint.objects.filter(run__status=JobStatus.SUCCEEDED, run__archived_at__isnull=True)
        .select_related("run")
        .order_by("-val_acc", "val_loss", F("run__finished_at").desc(nulls_last=True), "-run_id", "epoch")
        .first()
    )


@dataclass(frozen=True)
class PredictionChoice:
    """The checkpoint that predicts photos, and why: the active model once someone promoted one
    (`promotion`), before that the best succeeded checkpoint by validation accuracy."""

    checkpoint: Checkpoint
    promotion: Promotion | None

    @property
    def promoted(self) -> bool:
        return self.promotion is not None


def prediction_choice() -> PredictionChoice | None:
    """Which checkpoint predicts photos now and why; None while no run has succeeded."""
    promotion = promotion_latest()
    if promotion is not None:
        return PredictionChoice(checkpoint=promotion.checkpoint, promotion=promotion)
    best = best_checkpoint()
    return PredictionChoice(checkpoint=best, promotion=None) if best is not None else None


def promotions_history() -> QuerySet[Promotion]:
    return Promotion.objects.select_related("checkpoint__run", "previous__run", "promoted_by", "rolls_back")
