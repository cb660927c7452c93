"""Labels are corrections: every change is recorded (who, when, from, to), can be undone, and
the photo's label is always the result of its history."""

import pytest

from classifier.models import LabelCorrection, Photo
from classifier.services import photos as services
from tests.factories import UserFactory
from tests.photo_files import jpeg_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(plain_user):
    return services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)


def _label_from_history(photo: Photo) -> int | None:
    latest = photo.corrections.order_by("-created_at", "-pk").first()
    return latest.to_label if latest else None


def test_setting_a_label_records_who_when_from_and_to(photo, plain_user):
    correction = services.photo_label_set(photo=photo, label=3, user=plain_user, source="keyboard")
    assert (correction.from_label, correction.to_label, correction.user) == (None, 3, plain_user)
    assert correction.created_at and correction.source == "keyboard"
    photo.refresh_from_db()
    assert photo.label == 3 and photo.labelled_by == plain_user and photo.labelled_at == correction.created_at
    other = UserFactory()
    second = services.photo_label_set(photo=photo, label=6, user=other)
    assert (second.from_label, second.to_label, second.user) == (3, 6, other)
    photo.refresh_from_db()
    assert photo.label == 6 == _label_from_history(photo) and photo.labelled_by == other


def test_setting_the_same_label_again_records_nothing(photo, plain_user):
    services.photo_label_set(photo=photo, label=1, user=plain_user)
    assert services.photo_label_set(photo=photo, label=1, user=plain_user) is None
    assert photo.corrections.count() == 1


def test_a_label_can_be_cleared(photo, plain_user):
    services.photo_label_set(photo=photo, label=1, user=plain_user)
    cleared = services.photo_label_set(photo=photo, label=None, user=plain_user)
    photo.refresh_from_db()
    assert cleared.to_label is None and photo.label is None and photo.labelled_by is None


def test_bad_labels_are_refused(photo, plain_user):
    for label in (10, -1, "3"):
        with pytest.raises(ValueError):
            services.photo_label_set(photo=photo, label=label, user=plain_user)
    assert not photo.corrections.exists()


def test_reverting_records_the_opposite_change_and_keeps_the_history(photo, plain_user):
    first = services.photo_label_set(photo=photo, label=3, user=plain_user)
    second = services.photo_label_set(photo=photo, label=6, user=plain_user)
    reviewer = UserFactory()
    undo = services.photo_correction_revert(correction=second, user=reviewer)
    assert (undo.from_label, undo.to_label, undo.reverts, undo.user) == (6, 3, second, reviewer)
    photo.refresh_from_db()
    assert photo.label == 3 == _label_from_history(photo)
    # Undo again, one step further back (as `u` pressed twice does).
    services.photo_correction_revert(correction=first, user=reviewer)
    photo.refresh_from_db()
    assert photo.label is None and photo.labelled_by is None
    assert photo.corrections.count() == 4 and second.reverted_by == undo


def test_a_change_is_undone_only_once(photo, plain_user):
    correction = services.photo_label_set(photo=photo, label=2, user=plain_user)
    services.photo_correction_revert(correction=correction, user=plain_user)
    with pytest.raises(services.LabelConflict, match="undone already"):
        services.photo_correction_revert(correction=correction, user=plain_user)
    assert photo.corrections.count() == 2


def test_an_undo_never_overwrites_someone_elses_later_change(photo, plain_user):
    mine = services.photo_label_set(photo=photo, label=2, user=plain_user)
    services.photo_label_set(photo=photo, label=4, user=UserFactory())
    with pytest.raises(services.LabelConflict, match="changed since, to Coat"):
        services.photo_correction_revert(correction=mine, user=plain_user)
    photo.refresh_from_db()
    assert photo.label == 4 and photo.corrections.count() == 2


def test_an_undo_can_itself_be_undone(photo, plain_user):
    correction = services.photo_label_set(photo=photo, label=8, user=plain_user)
    undo = services.photo_correction_revert(correction=correction, user=plain_user)
    redo = services.photo_correction_revert(correction=undo, user=plain_user)
    photo.refresh_from_db()
    assert redo.to_label == 8 and photo.label == 8
    assert LabelCorrection.objects.filter(photo=photo).count() == 3
