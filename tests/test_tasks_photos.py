"""The batch prediction task, called directly in this process, with a real checkpoint file."""

from pathlib import Path

import numpy as np
import pytest
import torch

from classifier.models import JobStatus, Photo, PredictionJob, PredictionScope
from classifier.services import jobs as job_services
from classifier.services import photos as services
from engine.checkpoints import inference_of, load_checkpoint, save_checkpoint
from engine.config import PRESETS
from engine.inference import predict_logits
from tests.checkpoints import saved_checkpoint
from tests.photo_files import jpeg_bytes, png_bytes, upload
from worker import prediction_job
from worker.tasks import predict_photos

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos(plain_user):
    return [services.photo_upload(file=upload(data, f"p{i}.img"), user=plain_user)
            for i, data in enumerate([jpeg_bytes(), png_bytes(colour=(200, 30, 30)),
                                      jpeg_bytes(size=(300, 120), box=(10, 30, 290, 90))])]


def _job(checkpoint, scope=PredictionScope.UNPREDICTED) -> PredictionJob:
    return PredictionJob.objects.create(checkpoint=checkpoint, scope=scope)


def test_a_job_predicts_every_photo_with_its_checkpoint(photos, settings):
    checkpoint = saved_checkpoint(preset="fast")
    job = _job(checkpoint)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.total, job.done, job.progress) == (3, 3, 1.0) and job.worker_host and job.finished_at
    # The same numbers the engine gives for the stored 28x28 images, flip TTA and all.
    model, payload = load_checkpoint(Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name)
    images = torch.from_numpy(np.stack([p.model_input_array() for p in photos]))
    expected = torch.softmax(predict_logits(model, images, inference_of(payload)), 1).numpy()
    for photo, probabilities in zip(photos, expected):
        photo.refresh_from_db()
        assert photo.predicted_by == checkpoint and photo.predicted_at is not None
        assert np.allclose(photo.probabilities, probabilities, atol=1e-5)
        assert photo.predicted_label == int(probabilities.argmax())
        assert photo.confidence == pytest.approx(max(photo.probabilities))
        assert sum(photo.probabilities) == pytest.approx(1.0, abs=1e-4)


def test_unpredicted_scope_leaves_predicted_photos_alone_and_all_redoes_them(photos):
    first, second = saved_checkpoint(seed=1), saved_checkpoint(seed=2)
    Photo.objects.filter(pk=photos[0].pk).update(predicted_label=3, confidence=0.5, predicted_by=first)
    predict_photos(_job(second).pk)
    assert list(Photo.objects.order_by("pk").values_list("predicted_by", flat=True)) == [first.pk, second.pk,
                                                                                         second.pk]
    job = _job(first, scope=PredictionScope.ALL)
    predict_photos(job.pk)
    assert set(Photo.objects.values_list("predicted_by", flat=True)) == {first.pk}
    job.refresh_from_db()
    assert job.total == 3 and job.status == JobStatus.SUCCEEDED


def test_a_job_with_nothing_to_do_succeeds(db):
    job = _job(saved_checkpoint())
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.total == 0 and job.progress == 1.0


def test_a_missing_checkpoint_file_fails_the_job_with_its_reason(photos, settings):
    checkpoint = saved_checkpoint()
    (Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name).unlink()
    job = _job(checkpoint)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "missing" in job.error and job.finished_at
    assert not Photo.objects.filter(predicted_label__isnull=False).exists()


def test_a_changed_checkpoint_file_is_refused_and_nothing_is_predicted(photos, settings):
    """Measured on a fresh clone: a swapped file predicted 503 photos without complaint."""
    checkpoint, other = saved_checkpoint(seed=1), saved_checkpoint(seed=2)
    path = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
    path.write_bytes((Path(settings.CHECKPOINT_ROOT) / other.file.name).read_bytes())  # a valid file, but not its own
    job = _job(checkpoint)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "has changed since it was written" in job.error
    assert not Photo.objects.filter(predicted_label__isnull=False).exists()


def test_a_checkpoint_is_used_with_its_own_normalisation_whatever_its_preset_says_now(photos, settings):
    checkpoint = saved_checkpoint(preset="fast")
    path = Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
    model, payload = load_checkpoint(path)
    payload["preprocessing"].update(mean=0.5, std=0.25, tta_flip=False)  # as if trained under an older recipe
    checkpoint.sha256 = save_checkpoint(path, payload)
    checkpoint.save()
    predict_photos(_job(checkpoint).pk)
    images = torch.from_numpy(np.stack([p.model_input_array() for p in photos]))
    own = torch.softmax(predict_logits(model, images, inference_of(payload)), 1).numpy()
    todays = torch.softmax(predict_logits(model, images, PRESETS["fast"].inference), 1).numpy()
    stored = np.array([Photo.objects.get(pk=p.pk).probabilities for p in photos])
    assert np.allclose(stored, own, atol=1e-5) and not np.allclose(stored, todays, atol=1e-3)


def test_a_cancelled_job_stops_and_keeps_what_it_predicted(photos, staff_user, monkeypatch):
    monkeypatch.setattr(prediction_job, "CHUNK", 1)
    monkeypatch.setattr(prediction_job, "CHUNK_WITH_MAPS", 1)
    job = _job(saved_checkpoint())
    real_record = services.prediction_job_record

    def cancel_after_the_first_photo(*, job, results, occlusion=None):
        real_record(job=job, results=results, occlusion=occlusion)
        job_services.job_cancel(job=PredictionJob.objects.get(pk=job.pk), user=staff_user)

    monkeypatch.setattr(services, "prediction_job_record", cancel_after_the_first_photo)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancelled_by == staff_user
    assert job.done == 1 and Photo.objects.filter(predicted_label__isnull=False).count() == 1


def test_a_corrupt_checkpoint_fails_the_job_with_its_reason(photos, settings):
    checkpoint = saved_checkpoint()
    (Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name).write_bytes(b"not a checkpoint")
    job = _job(checkpoint)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error


def test_a_job_that_is_not_queued_is_left_alone(photos):
    job = PredictionJob.objects.create(checkpoint=saved_checkpoint(), status=JobStatus.FAILED)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.started_at is None
    assert not Photo.objects.filter(predicted_label__isnull=False).exists()


def test_a_photo_still_preparing_is_not_predicted_until_it_is_ready(photos, plain_user):
    preparing = services.photo_store(file=upload(jpeg_bytes(colour=(0, 0, 150)), "late.jpg"), user=plain_user)
    job = _job(saved_checkpoint(seed=1), scope=PredictionScope.ALL)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.total == 3, job.error
    assert Photo.objects.get(pk=preparing.pk).predicted_label is None
    services.photo_prepare(photo_id=preparing.pk)
    predict_photos(_job(job.checkpoint).pk)
    assert Photo.objects.get(pk=preparing.pk).predicted_label is not None
