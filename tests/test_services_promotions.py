from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from classifier.models import JobStatus, Promotion
from classifier.selectors.promotions import active_checkpoint
from classifier.services.promotions import checkpoint_promote, promotion_rollback
from tests.factories import PhotoFactory, TrainingRunFactory, UserFactory, checkpoint_with_file
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


def test_a_real_drop_in_either_domain_needs_the_warnings_acknowledged(staff_user):
    old = _evaluated(90, 15)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    # 10 of the same 100 test images lost and none gained; then 7 of the same 20 photos.
    for candidate, words in ((_evaluated(80, 16), "On Fashion-MNIST test accuracy drops from 90/100 (90.0 %, 95 % 83–94 %) "
                                                  "to 80/100 (80.0 %, 95 % 71–87 %): more than chance would give (p = 0.00098)"),
                             (_evaluated(95, 9), "On held-out photos accuracy drops from 16/20 (80.0 %, 95 % 58–92 %) to "
                                                 "9/20 (45.0 %, 95 % 26–66 %): more than chance would give (p = 0.0078)")):
        with pytest.raises(ValidationError, match="Read the warnings"):
            checkpoint_promote(checkpoint=candidate, user=staff_user, reason="try")
        assert active_checkpoint() == old
        promotion = checkpoint_promote(checkpoint=candidate, user=staff_user, reason="on purpose",
                                       acknowledge_warnings=True)
        assert any(words in w for w in promotion.warnings), promotion.warnings
        old = candidate


def test_a_small_noisy_drop_is_a_note_that_says_how_many_more_photos_would_tell(staff_user):
    labels = [0] * 10 + [6] * 10  # ten T-shirts, ten shirts
    old = checkpoint_with_file()
    scored(old, "fmnist-test", correct=90, total=100)
    scored_exactly(old, "photos", labels=labels, right=[True] * 5 + [False] * 5 + [True] * 5 + [False] * 5)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    new = checkpoint_with_file()  # 65 % overall, but shirts fall from 5/10 to 3/10: two photos
    scored(new, "fmnist-test", correct=91, total=100)
    scored_exactly(new, "photos", labels=labels, right=[True] * 10 + [True] * 3 + [False] * 7)

    promotion = checkpoint_promote(checkpoint=new, user=staff_user, reason="noise")  # no warning to acknowledge

    assert promotion.warnings == []
    [note] = promotion.scorecard["within_noise"]
    # Paired on the same ten shirts: 2 lost, 0 gained, p = 1/4; a drop of 20 points with 20 % of
    # photos disagreeing is told from noise at about 1.96² · 0.2 / 0.2² ≈ 20 photos: 10 more.
    assert note == ("On held-out photos of Shirt accuracy drops from 5/10 (50.0 %, 95 % 24–76 %) to 3/10 "
                    "(30.0 %, 95 % 11–60 %): too few held-out photos to tell (p = 0.25); about 10 more labelled "
                    "photos there would settle it.")


def test_the_same_drop_on_many_photos_is_a_warning(staff_user):
    labels = [0] * 100 + [6] * 100
    old = checkpoint_with_file()
    scored(old, "fmnist-test", correct=90, total=100)
    scored_exactly(old, "photos", labels=labels, right=[True] * 50 + [False] * 50 + [True] * 50 + [False] * 50)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    new = checkpoint_with_file()  # shirts from 50 of 100 to 30 of 100, T-shirts all right: 65 % overall
    scored(new, "fmnist-test", correct=91, total=100)
    scored_exactly(new, "photos", labels=labels, right=[True] * 100 + [True] * 30 + [False] * 70)
    with pytest.raises(ValidationError, match=r"On held-out photos of Shirt accuracy drops from 50/100 .* to 30/100"):
        checkpoint_promote(checkpoint=new, user=staff_user, reason="risky")
    promotion = checkpoint_promote(checkpoint=new, user=staff_user, reason="risky", acknowledge_warnings=True)
    assert len(promotion.warnings) == 1 and "T-shirt" not in promotion.warnings[0]


def test_a_source_that_drops_is_named(staff_user):
    photos = [PhotoFactory(source="shop A" if i < 40 else "home") for i in range(80)]
    keys = [str(p.pk) for p in photos]
    labels = [0] * 80
    old = checkpoint_with_file()
    scored(old, "fmnist-test", correct=90, total=100)
    scored_exactly(old, "photos", labels=labels, right=[True] * 40 + [False] * 40, sample_keys=keys)
    checkpoint_promote(checkpoint=old, user=staff_user, reason="first")
    new = checkpoint_with_file()  # the shop's photos fall from 40/40 to 20/40 while the home photos rise
    scored(new, "fmnist-test", correct=90, total=100)
    scored_exactly(new, "photos", labels=labels, right=[True] * 20 + [False] * 20 + [True] * 30 + [False] * 10,
                   sample_keys=keys)
    with pytest.raises(ValidationError, match=r"On held-out photos from shop A accuracy drops from 40/40 .* to 20/40"):
        checkpoint_promote(checkpoint=new, user=staff_user, reason="risky")


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
