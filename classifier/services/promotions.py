"""Making a checkpoint the active model, and undoing it. Staff only, always with a reason,
always recorded with what the person saw (both domains' figures and the warnings)."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from classifier.models import Checkpoint, JobStatus, Photo, PredictionScope, Promotion
from classifier.selectors.promotions import promotion_latest
from classifier.selectors.runs import checkpoint_file_problem
from classifier.selectors.scorecards import checkpoint_scorecard, promotion_review, scorecard_snapshot
from classifier.services.photos import photos_predict
from classifier.services.webhooks import webhooks_promotion

logger = logging.getLogger(__name__)


def _check_staff(user: AbstractBaseUser) -> None:
    if not user.is_staff:
        raise PermissionDenied("only staff can change the active model")


def _on_new_active_model(checkpoint: Checkpoint, user: AbstractBaseUser) -> None:
    """The gallery shows the active model's predictions: redo them all with the new one."""
    if Photo.objects.exists():
        photos_predict(scope=PredictionScope.ALL, checkpoint=checkpoint, user=user)


@transaction.atomic
def checkpoint_promote(*, checkpoint: Checkpoint, user: AbstractBaseUser, reason: str,
                       acknowledge_warnings: bool = False, rolls_back: Promotion | None = None) -> Promotion:
    """Make ``checkpoint`` the active model. When the comparison with the current one warns of
    anything, the caller must say the warnings were read (acknowledge_warnings)."""
    _check_staff(user)
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why: the reason is kept in the model's history.")
    if checkpoint.run.status != JobStatus.SUCCEEDED:
        raise ValidationError("Only checkpoints of succeeded runs can become the active model.")
    problem = checkpoint_file_problem(checkpoint=checkpoint)
    if problem:
        raise ValidationError(problem)
    # Locks the latest promotion's row, so two staff promoting at once are serialised.
    latest = Promotion.objects.select_for_update().order_by("-created_at", "-pk").first()
    current = latest.checkpoint if latest else None
    if current is not None and current.pk == checkpoint.pk:
        raise ValidationError("This checkpoint is already the active model.")
    candidate_card, active_card = checkpoint_scorecard(checkpoint=checkpoint), checkpoint_scorecard(checkpoint=current)
    review = promotion_review(candidate=candidate_card, active=active_card)
    warnings = review.warnings
    if warnings and not acknowledge_warnings:
        raise ValidationError("Read the warnings and confirm to promote anyway: " + " ".join(warnings))
    promotion = Promotion.objects.create(
        checkpoint=checkpoint, previous=current, promoted_by=user, reason=reason, rolls_back=rolls_back,
        scorecard={"candidate": scorecard_snapshot(candidate_card), "previous": scorecard_snapshot(active_card),
                   "within_noise": review.notes},
        warnings=warnings,
    )
    logger.info("checkpoint %s promoted by %s (was %s): %s", checkpoint.pk, user, current and current.pk, reason)
    transaction.on_commit(lambda: _on_new_active_model(checkpoint, user))
    webhooks_promotion(promotion=promotion)
    return promotion


def promotion_rollback(*, promotion: Promotion, user: AbstractBaseUser, reason: str) -> Promotion:
    """Undo the latest promotion: the checkpoint it replaced becomes active again."""
    _check_staff(user)
    latest = promotion_latest()
    if latest is None or latest.pk != promotion.pk:
        raise ValidationError("Only the latest promotion can be rolled back.")
    if promotion.previous is None:
        raise ValidationError("There was no active model before this promotion to go back to.")
    return checkpoint_promote(checkpoint=promotion.previous, user=user, reason=reason, acknowledge_warnings=True,
                              rolls_back=promotion)
