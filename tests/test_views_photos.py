"""Photo pages: who may do what, CSRF, the JSON the upload and review scripts rely on, filters."""

import pytest
from django.test import Client
from django.urls import reverse

from classifier.models import JobStatus, LabelCorrection, Photo, PhotoState, PredictionJob, PreparationJob
from classifier.services import photos as services
from tests.factories import StaffFactory, TrainingRunFactory
from tests.photo_files import jpeg_bytes, png_bytes, upload

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def no_enqueue(sent_tasks):
    return sent_tasks


def _photo(user, label=None, predicted=None, confidence=None, **kwargs) -> Photo:
    photo = services.photo_upload(file=upload(jpeg_bytes(**kwargs)), user=user)
    if predicted is not None:
        Photo.objects.filter(pk=photo.pk).update(predicted_label=predicted, confidence=confidence,
                                                 probabilities=[0.0] * 10)
    if label is not None:
        services.photo_label_set(photo=photo, label=label, user=user)
    photo.refresh_from_db()
    return photo


def test_anonymous_users_are_sent_to_login_for_pages_and_files(client, plain_user):
    photo = _photo(plain_user)
    for name, args in [("photo_gallery", []), ("photo_upload", []), ("photo_detail", [photo.pk]),
                       ("photo_original", [photo.pk]), ("photo_thumbnail", [photo.pk]),
                       ("photo_model_input", [photo.pk]), ("photo_gallery_changes", [])]:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
    response = client.post(reverse("photo_upload_file"), {"photo": upload(jpeg_bytes())})
    assert response.status_code == 302 and not Photo.objects.exclude(pk=photo.pk).exists()
    response = client.post(reverse("photo_label", args=[photo.pk]), {"label": "1"})
    assert response.status_code == 302 and not LabelCorrection.objects.exists()


def test_media_is_not_served_as_static_files(user_client, plain_user):
    photo = _photo(plain_user)
    assert user_client.get("/media/" + photo.original.name).status_code == 404
    response = user_client.get(reverse("photo_original", args=[photo.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    png = user_client.get(reverse("photo_model_input", args=[photo.pk]))
    assert png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"


def test_uploads_need_the_csrf_token(plain_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(plain_user)
    response = client.post(reverse("photo_upload_file"), {"photo": upload(jpeg_bytes())}, **JSON)
    assert response.status_code == 403 and not Photo.objects.exists()
    page = client.get(reverse("photo_upload"))
    token = page.cookies["csrftoken"].value
    response = client.post(reverse("photo_upload_file"), {"photo": upload(jpeg_bytes())},
                           HTTP_X_CSRFTOKEN=token, **JSON)
    assert response.status_code == 201 and Photo.objects.count() == 1


def test_label_changes_need_the_csrf_token(plain_user):
    photo = _photo(plain_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(plain_user)
    assert client.post(reverse("photo_label", args=[photo.pk]), {"label": "2"}).status_code == 403
    assert not LabelCorrection.objects.exists()


def test_one_file_upload_answers_in_json(user_client, no_enqueue):
    response = user_client.post(reverse("photo_upload_file"), {"photo": upload(jpeg_bytes(), "shirt.jpg")}, **JSON)
    data = response.json()
    assert response.status_code == 201 and data["ok"] and data["name"] == "shirt.jpg"
    assert data["url"] == reverse("photo_detail", args=[data["id"]])
    assert "No trained model yet" in data["prediction"]  # no run has succeeded: stored, not predicted
    response = user_client.post(reverse("photo_upload_file"), {"photo": upload(b"MZ\x90\x00", "evil.jpg")}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "name": "evil.jpg",
                               "error": "evil.jpg is not an image: only JPEG, PNG or WebP images are accepted"}


def test_a_request_bigger_than_one_photo_is_refused_unread(user_client, settings):
    settings.PHOTO_MAX_BYTES = 2000
    response = user_client.post(reverse("photo_upload_file"), {"photo": upload(b"x" * 100_000)}, **JSON)
    assert response.status_code == 413 and "too large" in response.json()["error"]
    assert not Photo.objects.exists()


def test_the_upload_form_without_scripts_takes_several_files_and_queues_their_preparation_then_prediction(
        user_client, no_enqueue, django_capture_on_commit_callbacks):
    from worker import preparation_job
    from worker.jobs import run_job

    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    run.checkpoints.create(epoch=1, file="x.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("photo_upload"), {"photo": [
            upload(jpeg_bytes(), "a.jpg"), upload(b"not an image", "b.png"), upload(png_bytes(), "c.png")]})
    page = response.content.decode()
    assert response.status_code == 200 and Photo.objects.count() == 2
    assert "b.png is not an image" in page and "a worker prepares what the model sees (preparation job #" in page
    # Stored, not prepared in the request: no model input yet, and nothing to predict yet.
    assert set(Photo.objects.values_list("state", "model_input")) == {(PhotoState.PREPARING, b"")}
    job = PreparationJob.objects.get()
    assert no_enqueue == [("worker.tasks.prepare_photos", job.pk)] and not PredictionJob.objects.exists()
    # What the worker's task does (worker.tasks.prepare_photos): every photo ready, then predicted.
    with django_capture_on_commit_callbacks(execute=True):
        job = run_job(PreparationJob, job.pk, preparation_job.prepare_and_record)
    assert job.succeeded and (job.done, job.total) == (2, 2)
    assert all(p.is_ready and len(bytes(p.model_input)) == 784 and not p.upload for p in Photo.objects.all())
    assert PredictionJob.objects.count() == 1 and no_enqueue[-1][0] == "worker.tasks.predict_photos"


def test_the_upload_form_takes_the_first_20_files_and_names_each_one_left_out(user_client, no_enqueue):
    from classifier.views.photos import MAX_FILES_PER_REQUEST

    files = [upload(png_bytes(colour=(10 * i, 5 * i, 200 - 8 * i)), f"p{i:02d}.png") for i in range(23)]
    response = user_client.post(reverse("photo_upload"), {"photo": files})
    page = response.content.decode()
    assert response.status_code == 200 and MAX_FILES_PER_REQUEST == 20
    assert sorted(Photo.objects.values_list("original_name", flat=True)) == [f"p{i:02d}.png" for i in range(20)]
    for i in (20, 21, 22):
        assert f"p{i}.png was not taken: one upload takes at most 20 files; upload it again." in page
    assert "p19.png was not taken" not in page


def test_gallery_filters(user_client, plain_user):
    unlabelled = _photo(plain_user, predicted=3, confidence=0.9)
    right = _photo(plain_user, label=1, predicted=1, confidence=0.6, colour=(30, 30, 90))
    wrong = _photo(plain_user, label=6, predicted=0, confidence=0.4, colour=(90, 30, 30))
    unpredicted = _photo(plain_user, colour=(30, 90, 30))

    def shown(**query):
        response = user_client.get(reverse("photo_gallery"), query)
        assert response.status_code == 200
        return [p.pk for p in response.context["photos"]]

    # Least confident first by default; photos not predicted yet come last.
    assert shown() == [wrong.pk, right.pk, unlabelled.pk, unpredicted.pk]
    assert shown(show="unlabelled") == [unlabelled.pk, unpredicted.pk]
    assert shown(show="labelled") == [wrong.pk, right.pk]
    assert shown(show="wrong") == [wrong.pk]
    assert shown(predicted="3") == [unlabelled.pk]
    assert shown(label="6") == [wrong.pk]
    assert shown(order="-confidence") == [unlabelled.pk, right.pk, wrong.pk, unpredicted.pk]
    assert shown(show="bogus", predicted="12") == shown()
    page = user_client.get(reverse("photo_gallery"), {"show": "wrong"}).content.decode()
    assert "Shirt" in page and "40 %" in page and 'data-predicted="0"' in page


def test_labelling_by_fetch_returns_the_redrawn_card_and_the_correction(user_client, plain_user):
    photo = _photo(plain_user, predicted=7, confidence=0.8)
    response = user_client.post(reverse("photo_label", args=[photo.pk]), {"label": "5", "source": "keyboard"},
                                **JSON)
    data = response.json()
    correction = LabelCorrection.objects.get()
    assert data["ok"] and data["label"] == 5 and data["label_name"] == "Sandal"
    assert data["correction"] == correction.pk and correction.source == "keyboard"
    assert f'data-photo-id="{photo.pk}"' in data["card"] and 'data-label="5"' in data["card"]
    accepted = user_client.post(reverse("photo_label", args=[photo.pk]), {"label": "prediction"}, **JSON).json()
    assert accepted["label"] == 7
    undone = user_client.post(reverse("correction_revert", args=[accepted["correction"]]), **JSON).json()
    assert undone["label"] == 5
    again = user_client.post(reverse("correction_revert", args=[accepted["correction"]]), **JSON)
    assert again.status_code == 409 and "undone already" in again.json()["error"]
    bad = user_client.post(reverse("photo_label", args=[photo.pk]), {"label": "12"}, **JSON)
    assert bad.status_code == 400


def test_photo_page_shows_both_images_probabilities_and_history_with_revert(user_client, plain_user):
    photo = _photo(plain_user, predicted=0, confidence=0.7)
    Photo.objects.filter(pk=photo.pk).update(probabilities=[0.7, 0.2, 0.1] + [0.0] * 7)
    user_client.post(reverse("photo_label", args=[photo.pk]), {"label": "6"})
    page = user_client.get(reverse("photo_detail", args=[photo.pk])).content.decode()
    assert reverse("photo_original", args=[photo.pk]) in page and reverse("photo_model_input", args=[photo.pk]) in page
    assert "70.0 %" in page and "20.0 %" in page and "wrong" in page
    assert "no label → <strong>Shirt</strong>" in page and "Revert" in page
    correction = LabelCorrection.objects.get()
    response = user_client.post(reverse("correction_revert", args=[correction.pk]))
    assert response.status_code == 302
    photo.refresh_from_db()
    assert photo.label is None


def test_only_staff_predict_all_again(plain_user, staff_client, no_enqueue, django_capture_on_commit_callbacks):
    user_client = Client()
    user_client.force_login(plain_user)
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    checkpoint = run.checkpoints.create(epoch=1, file="x.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    assert user_client.post(reverse("photos_predict_all"), {"checkpoint": checkpoint.pk}).status_code == 403
    assert "Predict all photos" not in user_client.get(reverse("photo_gallery")).content.decode()
    assert "Predict all photos" in staff_client.get(reverse("photo_gallery")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("photos_predict_all"), {"checkpoint": checkpoint.pk})
    job = PredictionJob.objects.get()
    assert response.status_code == 302 and job.scope == "all" and job.checkpoint == checkpoint
    assert no_enqueue == [("worker.tasks.predict_photos", job.pk)]


def test_admin_lists_photos_corrections_and_jobs_and_a_label_set_there_is_a_correction(client):
    admin_user = StaffFactory(is_superuser=True)
    client.force_login(admin_user)
    staff_client = client
    photo = _photo(admin_user, label=2)
    PredictionJob.objects.create()
    for name in ("photo", "labelcorrection", "predictionjob"):
        assert staff_client.get(reverse(f"admin:classifier_{name}_changelist")).status_code == 200, name
    assert staff_client.get(reverse("admin:classifier_photo_change", args=[photo.pk])).status_code == 200
    response = staff_client.post(reverse("admin:classifier_photo_change", args=[photo.pk]), {
        "label": "4", "corrections-TOTAL_FORMS": "1", "corrections-INITIAL_FORMS": "1",
        "corrections-MIN_NUM_FORMS": "0", "corrections-MAX_NUM_FORMS": "1000",
        "corrections-0-id": str(photo.corrections.get().pk), "corrections-0-photo": str(photo.pk),
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    photo.refresh_from_db()
    latest = photo.corrections.order_by("-pk").first()
    assert photo.label == 4 and (latest.from_label, latest.to_label, latest.source) == (2, 4, "admin")
