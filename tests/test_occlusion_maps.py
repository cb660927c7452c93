"""Where the model looked: a prediction job leaves occlusion maps, and the photo page draws them."""

import io

import numpy as np
import pytest
from PIL import Image

from classifier.models import JobStatus, Photo, PredictionJob, PredictionScope, PredictionTarget
from classifier.services import photos as services
from tests.factories import real_checkpoint
from tests.photo_files import encoded, shared_photos, upload
from worker.tasks import predict_photos

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(plain_user):
    path = next(shared_photos().rglob("trouser_1.jpg"))
    return services.photo_upload(file=upload(encoded(Image.open(path).convert("RGB"), "JPEG", quality=90)),
                                 user=plain_user)


def test_the_active_models_prediction_leaves_maps_for_the_prediction_and_a_different_label(photo, plain_user,
                                                                                            trained_weights):
    assert photo.model_input_box and photo.model_input_box[0] < photo.model_input_box[2]
    checkpoint = real_checkpoint(trained_weights)
    services.photo_label_set(photo=photo, label=9, user=plain_user)
    job = PredictionJob.objects.create(checkpoint=checkpoint, scope=PredictionScope.ALL)
    predict_photos(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    photo.refresh_from_db()
    classes = [photo.predicted_label] + ([9] if photo.predicted_label != 9 else [])
    assert photo.occlusion_classes == classes
    for class_index in classes:
        heat = photo.occlusion_map(class_index)
        assert heat.shape == (28, 28) and np.isfinite(heat).all() and np.abs(heat).max() > 0
    assert photo.occlusion_map(next(c for c in range(10) if c not in classes)) is None


def test_a_second_opinion_leaves_the_maps_of_the_active_model_alone(photo, trained_weights):
    Photo.objects.filter(pk=photo.pk).update(occlusion=b"\0" * 28 * 28 * 2, occlusion_classes=[3])
    job = PredictionJob.objects.create(checkpoint=real_checkpoint(trained_weights), scope=PredictionScope.ALL,
                                       target=PredictionTarget.CANDIDATE)
    predict_photos(job.pk)
    photo.refresh_from_db()
    assert photo.candidate_label is not None and photo.occlusion_classes == [3]


def test_the_photo_page_draws_the_maps_over_what_the_model_sees_and_over_the_photo(photo, user_client,
                                                                                   trained_weights):
    predict_photos(PredictionJob.objects.create(checkpoint=real_checkpoint(trained_weights),
                                                scope=PredictionScope.ALL).pk)
    photo.refresh_from_db()
    predicted = photo.predicted_label
    page = user_client.get(f"/photos/{photo.pk}/").content.decode()
    assert 'id="occlusion"' in page and f"/photos/{photo.pk}/occlusion/{predicted}/photo.png" in page
    for over, size in (("model-input", (196, 196)), ("photo", None)):
        response = user_client.get(f"/photos/{photo.pk}/occlusion/{predicted}/{over}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        if size:
            assert image.size == size
        else:
            thumbnail = Image.open(photo.thumbnail.open("rb"))
            assert image.size == thumbnail.size
            # Coloured where the map is, the photo elsewhere: it differs from the thumbnail somewhere.
            assert np.abs(np.asarray(image, dtype=int) - np.asarray(thumbnail.convert("RGB"), dtype=int)).max() > 30
    other = next(c for c in range(10) if c not in photo.occlusion_classes)
    assert user_client.get(f"/photos/{photo.pk}/occlusion/{other}/model-input.png").status_code == 404
    assert user_client.get(f"/photos/{photo.pk}/occlusion/{predicted}/elsewhere.png").status_code == 404
