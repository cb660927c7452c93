"""Uploads are stored at once and prepared later (on a worker): what a preparing photo may and
may not do, the same result as preparing at once, and a failure kept with its reason."""

import numpy as np
import pytest
from django.core.files.storage import default_storage

from classifier.models import LabelCorrection, Photo, PhotoState, PreparationJob
from classifier.services import photos as services
from dataset.photos import PREPROCESS_VERSION, open_photo, orient, preprocess_with_box
from tests.photo_files import jpeg_bytes, upload

pytestmark = pytest.mark.django_db


def test_a_stored_photo_is_preparing_until_prepared_and_then_as_if_uploaded_at_once(plain_user):
    data = jpeg_bytes()
    stored = services.photo_store(file=upload(data, "shirt.jpg"), user=plain_user, source="home", tags=["worn"])
    assert stored.is_preparing and bytes(stored.model_input) == b"" and stored.preprocess_version == 0
    assert default_storage.exists(stored.thumbnail.name) and default_storage.exists(stored.upload.name)
    ready = services.photo_prepare(photo_id=stored.pk)
    assert ready.is_ready and ready.upload.name == "" and not default_storage.exists(stored.upload.name)
    assert services.photo_prepare(photo_id=stored.pk) is None  # a second delivery does nothing
    # Made from the bytes as uploaded, as uploads were prepared in the request before.
    assert np.array_equal(ready.model_input_array(), preprocess_with_box(orient(open_photo(data)))[0])
    assert ready.preprocess_version == PREPROCESS_VERSION and ready.signature is not None
    assert ready.source == "home" and list(ready.tags.values_list("name", flat=True)) == ["worn"]


def test_a_photo_that_cannot_be_prepared_is_marked_with_its_reason_and_keeps_its_files(plain_user):
    stored = services.photo_store(file=upload(jpeg_bytes()), user=plain_user)
    with default_storage.open(stored.upload.name, "wb") as handle:
        handle.write(b"\xff\xd8 not a jpeg any more")
    failed = services.photo_prepare(photo_id=stored.pk)
    assert failed.state == PhotoState.FAILED and failed.preparation_error
    assert default_storage.exists(failed.original.name) and default_storage.exists(failed.upload.name)
    assert Photo.objects.filter(pk=stored.pk).exists()


def test_a_photo_not_ready_cannot_be_labelled(plain_user):
    stored = services.photo_store(file=upload(jpeg_bytes()), user=plain_user)
    with pytest.raises(services.LabelConflict, match="preparing"):
        services.photo_label_set(photo=stored, label=3, user=plain_user)
    photos, corrections, refused = services.photos_label_many(photo_ids=[stored.pk, 999], label=3, user=plain_user)
    assert photos == [stored] and corrections == [] and set(refused) == {stored.pk, 999}
    assert not LabelCorrection.objects.exists()


def test_one_waiting_preparation_job_takes_every_upload_until_a_worker_starts_it(plain_user, sent_tasks,
                                                                                  django_capture_on_commit_callbacks):
    assert services.photos_prepare_waiting(user=plain_user) is None  # nothing waits
    with django_capture_on_commit_callbacks(execute=True):
        services.photo_store(file=upload(jpeg_bytes()), user=plain_user)
        first = services.photos_prepare_waiting(user=plain_user)
    with django_capture_on_commit_callbacks(execute=True):
        services.photo_store(file=upload(jpeg_bytes(colour=(90, 0, 0))), user=plain_user)
        assert services.photos_prepare_waiting(user=plain_user) == first
    PreparationJob.objects.filter(pk=first.pk).update(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        services.photo_store(file=upload(jpeg_bytes(colour=(0, 90, 0))), user=plain_user)
        second = services.photos_prepare_waiting(user=plain_user)
    assert second != first and [pk for _, pk in sent_tasks] == [first.pk, second.pk]


def test_the_sweep_queues_a_preparation_job_for_photos_a_failed_job_left_preparing(plain_user, sent_tasks,
                                                                                   django_capture_on_commit_callbacks):
    from classifier.services.jobs import jobs_sweep

    with django_capture_on_commit_callbacks(execute=True):
        services.photo_store(file=upload(jpeg_bytes()), user=plain_user)
        first = services.photos_prepare_waiting(user=plain_user)
    assert jobs_sweep().queued == {}  # a queued job will see the photo: nothing to add
    PreparationJob.objects.filter(pk=first.pk).update(status="failed", error="worker lost")

    with django_capture_on_commit_callbacks(execute=True):
        result = jobs_sweep()

    (again,) = [pk for ids in result.queued.values() for pk in ids]
    assert again != first.pk and PreparationJob.objects.get(pk=again).status == "queued"
    assert "queued for work left waiting" in " ".join(result.lines())
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep().queued == {}  # once is enough
