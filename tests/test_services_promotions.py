from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from classifier.models import JobStatus, Promotion
from classifier.selectors.promotions import active_checkpoint
from classifier.services.promotions import checkpoint_promote, promotion_rollback
from tests.factories import TrainingRunFactory, UserFactory, checkpoint_with_file
from tests.scoring import scored, scored_exactly


def _evaluated(fmnist: int, photos: int, *, photo_classes=(0,)):
    checkpoint = checkpoint_with_file()
    scored(checkpoint, "fmnist-test", correct=fmnist, total=100)
    scored(checkpoint, "photos", correct=photos, total=20, classes=photo_classes)
    return checkpoint


def test_the_first_promotion_makes_a_checkpoint_active(staff_user):
    checkpoint = _evaluated(90, 10)
    promotion = checkpoint_promote(checkpoint=checkpoint, user=staff_user, reason="first model")
    assert active_checkpoint() == checkpoint
    assert promotion.previous is None and promotion.warnings == []
    assert promotion.scorecard["candidate"]["domains"]["fmnist-test"]["accuracy"] == pytest.approx(0.9)


def test_a_better_checkpoint_on_both_domains_promotes_without_warnings(staff_user):
    old, new = _evaluated(90, 10), _evaluated(91, 12)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    promotion = checkpoint_promote(checkpoint=new, user=staff_user, reason="better on both")
    assert active_checkpoint() == new and promotion.previous == old and promotion.warnings == []


def test_a_drop_in_either_domain_needs_the_warnings_acknowledged(staff_user):
    old = _evaluated(90, 10)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    for candidate, words in ((_evaluated(89, 15), "Fashion-MNIST test accuracy drops from 90.00 % to 89.00 %"),
                             (_evaluated(95, 9), "Held-out photos accuracy drops from 75.00 % to 45.00 %")):
        with pytest.raises(ValidationError, match="Read the warnings"):
            checkpoint_promote(checkpoint=candidate, user=staff_user, reason="try")
        assert active_checkpoint() == old
        promotion = checkpoint_promote(checkpoint=candidate, user=staff_user, reason="on purpose",
                                       acknowledge_warnings=True)
        assert any(words in w for w in promotion.warnings), promotion.warnings
        old = candidate


def test_it_warns_about_a_photo_class_that_drops_even_when_overall_rises(staff_user):
    labels = [0] * 10 + [6] * 10  # ten T-shirts, ten shirts
    old = checkpoint_with_file()
    scored(old, "fmnist-test", correct=90, total=100)
    scored_exactly(old, "photos", labels=labels, right=[True] * 5 + [False] * 5 + [True] * 5 + [False] * 5)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    new = checkpoint_with_file()  # 65 % overall, but shirts fall from 50 % to 30 %
    scored(new, "fmnist-test", correct=91, total=100)
    scored_exactly(new, "photos", labels=labels, right=[True] * 10 + [True] * 3 + [False] * 7)
    with pytest.raises(ValidationError, match="On held-out photos of Shirt accuracy drops from 50.00 % to 30.00 %"):
        checkpoint_promote(checkpoint=new, user=staff_user, reason="risky")
    promotion = checkpoint_promote(checkpoint=new, user=staff_user, reason="risky", acknowledge_warnings=True)
    assert len(promotion.warnings) == 1 and "T-shirt" not in promotion.warnings[0]


def test_an_unevaluated_candidate_is_flagged(staff_user):
    checkpoint_promote(checkpoint=_evaluated(90, 10), user=staff_user, reason="first")
    bare = checkpoint_with_file()
    with pytest.raises(ValidationError, match="has not been evaluated"):
        checkpoint_promote(checkpoint=bare, user=staff_user, reason="blind")


def test_only_staff_promote_and_only_with_a_reason_and_a_finished_run(staff_user):
    checkpoint = _evaluated(90, 10)
    with pytest.raises(PermissionDenied):
        checkpoint_promote(checkpoint=checkpoint, user=UserFactory(), reason="me")
    with pytest.raises(ValidationError, match="Say why"):
        checkpoint_promote(checkpoint=checkpoint, user=staff_user, reason="  ")
    running = checkpoint_with_file(run=TrainingRunFactory(status=JobStatus.RUNNING))
    with pytest.raises(ValidationError, match="succeeded runs"):
        checkpoint_promote(checkpoint=running, user=staff_user, reason="early", acknowledge_warnings=True)
    checkpoint_promote(checkpoint=checkpoint, user=staff_user, reason="ok")
    with pytest.raises(ValidationError, match="already the active model"):
        checkpoint_promote(checkpoint=checkpoint, user=staff_user, reason="again")
    assert Promotion.objects.count() == 1


def test_rollback_restores_the_previous_model_and_keeps_the_history(staff_user):
    old, new = _evaluated(90, 10), _evaluated(91, 12)
    first = checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    with pytest.raises(ValidationError, match="no active model before"):
        promotion_rollback(promotion=first, user=staff_user, reason="nothing to go back to")
    second = checkpoint_promote(checkpoint=new, user=staff_user, reason="second")
    with pytest.raises(ValidationError, match="Only the latest"):
        promotion_rollback(promotion=first, user=staff_user, reason="not the latest")
    rollback = promotion_rollback(promotion=second, user=staff_user, reason="photos got worse in practice")
    assert active_checkpoint() == old
    assert rollback.rolls_back == second and rollback.previous == new and rollback.checkpoint == old
    assert Promotion.objects.count() == 3
    with pytest.raises(ValidationError, match="Only the latest"):
        promotion_rollback(promotion=second, user=staff_user, reason="twice")
    with pytest.raises(PermissionDenied):
        promotion_rollback(promotion=rollback, user=UserFactory(), reason="me")


def test_a_checkpoint_whose_file_is_missing_or_changed_is_not_promoted(staff_user, settings):
    """Measured on a fresh clone: such a promotion was accepted and left the active model broken."""
    first = _evaluated(90, 10)
    checkpoint_promote(checkpoint=first, user=staff_user, reason="first")
    missing, changed = _evaluated(95, 15), _evaluated(95, 15)
    (Path(settings.CHECKPOINT_ROOT) / missing.file.name).unlink()
    (Path(settings.CHECKPOINT_ROOT) / changed.file.name).write_bytes(b"someone else's model")
    with pytest.raises(ValidationError, match="is missing"):
        checkpoint_promote(checkpoint=missing, user=staff_user, reason="better", acknowledge_warnings=True)
    with pytest.raises(ValidationError, match="has changed since it was written"):
        checkpoint_promote(checkpoint=changed, user=staff_user, reason="better", acknowledge_warnings=True)
    assert active_checkpoint() == first and Promotion.objects.count() == 1
