"""POST /api/v1/predict answered by a real worker process over the real Redis: the same model,
the same preprocessing and the same probabilities the gallery shows for the same photo."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import Checkpoint, Photo
from classifier.services import tokens as token_services
from classifier.storage import checkpoint_storage
from dataset.classes import CLASS_NAMES
from dataset.photos import PREPROCESS_VERSION
from tests.factories import UserFactory, real_checkpoint
from tests.photo_files import encoded, item_on_white, jpeg_bytes
from tests.workers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def token(worker):
    return token_services.api_token_create(user=UserFactory())[1]


def _predict(client, token, data, name="photo.jpg", **fields):
    return client.post("/api/v1/predict", {"image": SimpleUploadedFile(name, data), **fields},
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def test_predict_answers_with_the_active_model_and_stores_nothing(client, token, trained_weights, worker):
    checkpoint = real_checkpoint(trained_weights)
    response = _predict(client, token, jpeg_bytes())
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["checkpoint"] == checkpoint.pk and answer["checkpoint_sha256"] == checkpoint.sha256
    assert answer["preprocess_version"] == PREPROCESS_VERSION and answer["photo"] is None
    assert len(answer["probabilities"]) == 10 and sum(answer["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert answer["label_index"] == max(range(10), key=answer["probabilities"].__getitem__)
    assert answer["label"] == CLASS_NAMES[answer["label_index"]] == answer["class_names"][answer["label_index"]]
    assert not Photo.objects.exists()


def test_predict_gives_the_answer_the_gallery_shows_for_the_same_photo(client, token, trained_weights, worker):
    real_checkpoint(trained_weights)
    data = encoded(item_on_white(size=(200, 260), box=(60, 30, 140, 230), colour=(150, 30, 30)), "PNG")
    response = _predict(client, token, data, store="true")
    assert response.status_code == 200, response.content
    answer = response.json()
    photo_id = answer["photo"]
    # The gallery's prediction comes from a prediction job on the worker, as for any upload.
    photo = wait_for(lambda: Photo.objects.filter(pk=photo_id, predicted_label__isnull=False).first(), timeout=120,
                     message=f"the gallery's prediction; worker log:\n{worker.log()}")
    assert photo.predicted_by_id == answer["checkpoint"]
    assert photo.predicted_label == answer["label_index"]
    assert photo.probabilities == answer["probabilities"]
    # Predicting it again (nothing stored) answers the same.
    assert _predict(client, token, data).json()["probabilities"] == answer["probabilities"]


def test_a_checkpoint_whose_file_changed_is_refused_not_used(client, token, trained_weights, worker):
    checkpoint = real_checkpoint(trained_weights)
    name = checkpoint_storage.save(f"run-{checkpoint.run_id}/tampered.pt", ContentFile(b"other bytes"))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(file=name)
    response = _predict(client, token, jpeg_bytes())
    assert response.status_code == 503
    assert "has changed since it was written" in response.json()["error"]
