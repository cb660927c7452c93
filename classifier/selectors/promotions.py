"""Reads about the active model and its history."""

from __future__ import annotations

from django.db.models import QuerySet

from classifier.models import Checkpoint, Promotion


def promotion_latest() -> Promotion | None:
    return Promotion.objects.select_related("checkpoint__run").order_by("-created_at", "-pk").first()


def active_checkpoint() -> Checkpoint | None:
    """The checkpoint the latest promotion made active; None before anyone promoted one."""
    latest = promotion_latest()
    return latest.checkpoint if latest else None


def promotions_history() -> QuerySet[Promotion]:
    return Promotion.objects.select_related("checkpoint__run", "previous__run", "promoted_by", "rolls_back")
