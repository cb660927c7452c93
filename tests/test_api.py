"""The JSON API at /api/v1/: every endpoint's answers and errors, its auth and rate limit, and
its schema. Predict's own model answers come from a real worker: tests/integration/test_api_predict.py."""

import pytest

from classifier.models import ApiToken, LabelCorrection, Photo, Promotion, TrainingRun
from classifier.services import tokens as token_services
from tests.factories import (
    CheckpointFactory,
    EpochLogFactory,
    PhotoFactory,
    PromotionFactory,
    StaffFactory,
    TrainingRunFactory,
    UserFactory,
    checkpoint_with_file,
    report_from_logits,
)
from tests.photo_files import encoded, item_on_white, jpeg_bytes, png_bytes, png_claiming


@pytest.fixture
def user_token(db):
    return token_services.api_token_create(user=UserFactory())[1]


@pytest.fixture
def staff_token(db):
    return token_services.api_token_create(user=StaffFactory())[1]


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# --- auth, rate limit, schema ---------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer fmn_not-a-token", "Token abc", "Basic dXNlcjpwdw=="])
def test_no_or_a_bad_token_is_401_with_an_error(client, db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/photos", **extra)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_401(client, db):
    token, raw = token_services.api_token_create(user=UserFactory())
    assert client.get("/api/v1/photos", **bearer(raw)).status_code == 200
    token_services.api_token_revoke(token=token)
    assert client.get("/api/v1/photos", **bearer(raw)).status_code == 401


def test_a_session_is_no_substitute_for_a_token(user_client):
    assert user_client.get("/api/v1/photos").status_code == 401


def test_a_call_records_the_tokens_last_use(client, db):
    token, raw = token_services.api_token_create(user=UserFactory())
    client.get("/api/v1/model", **bearer(raw))
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_too_many_requests_are_429_per_token(client, db, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    raw = token_services.api_token_create(user=UserFactory())[1]
    other = token_services.api_token_create(user=UserFactory())[1]
    answers = [client.get("/api/v1/model", **bearer(raw)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    response = client.get("/api/v1/model", **bearer(raw))
    assert "Too many requests" in response.json()["error"] and 1 <= int(response["Retry-After"]) <= 60
    assert client.get("/api/v1/model", **bearer(other)).status_code == 200
    cache.clear()


def test_the_openapi_schema_describes_every_endpoint_and_the_bearer_auth(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, method in [("/api/v1/predict", "post"), ("/api/v1/photos", "get"), ("/api/v1/photos", "post"),
                         ("/api/v1/photos/{photo_id}", "get"), ("/api/v1/photos/{photo_id}/label", "post"),
                         ("/api/v1/photos/{photo_id}/history", "get"), ("/api/v1/runs", "get"),
                         ("/api/v1/runs", "post"), ("/api/v1/runs/{run_id}", "get"),
                         ("/api/v1/reports/{report_id}", "get"), ("/api/v1/checkpoints", "get"),
                         ("/api/v1/checkpoints/{checkpoint_id}/promote", "post"), ("/api/v1/model", "get")]:
        assert method in paths[path], (path, method)
    predict = paths["/api/v1/predict"]["post"]
    body = predict["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "image" in str(body) and "store" in str(body)
    answer = schema["components"]["schemas"]["PredictionOut"]["properties"]
    assert {"label", "label_index", "probabilities", "checkpoint", "checkpoint_sha256",
            "preprocess_version"} <= set(answer)
    assert {"400", "401", "429"} <= set(predict["responses"])
    assert any(s.get("scheme") == "bearer" for s in schema["components"]["securitySchemes"].values())


def test_the_docs_page_is_served_with_its_own_scripts(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and b"openapi.json" in response.content
    assert b"swagger-ui-bundle.js" in response.content and b"cdn" not in response.content.lower()


# --- predict: refusals and unavailability (answers: tests/integration/test_api_predict.py) ----


@pytest.mark.parametrize("data, name, message", [
    (b"just some text, not a picture", "notes.jpg", "notes.jpg is not an image"),
    (b"", "empty.png", "is empty"),
    (jpeg_bytes()[:400], "cut.jpg", "cut.jpg is truncated"),
    (png_claiming(7000, 7000), "big.png", "big.png has too many pixels"),
], ids=["not-an-image", "empty", "truncated", "too-many-pixels"])
def test_predict_refuses_what_an_upload_refuses_with_400(client, user_token, data, name, message):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/api/v1/predict", {"image": SimpleUploadedFile(name, data)}, **bearer(user_token))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Photo.objects.exists()


def test_predict_refuses_a_file_over_the_size_limit(client, user_token, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.PHOTO_MAX_BYTES = 1000
    data = jpeg_bytes(size=(400, 400))
    response = client.post("/api/v1/predict", {"image": SimpleUploadedFile("big.jpg", data)}, **bearer(user_token))
    assert response.status_code == 400 and "too large" in response.json()["error"]


def test_predict_without_an_image_is_400(client, user_token):
    response = client.post("/api/v1/predict", {}, **bearer(user_token))
    assert response.status_code == 400 and "image" in response.json()["error"]


def test_predict_before_any_model_is_503_and_stores_nothing(client, user_token):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/api/v1/predict", {"image": SimpleUploadedFile("a.jpg", jpeg_bytes())},
                           **bearer(user_token))
    assert response.status_code == 503 and "No trained model yet" in response.json()["error"]
    assert not Photo.objects.exists()


def test_predict_without_a_token_is_401(client, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/api/v1/predict", {"image": SimpleUploadedFile("a.jpg", jpeg_bytes())})
    assert response.status_code == 401


# --- photos ---------------------------------------------------------------------------------


def test_photos_list_with_the_gallerys_filters_and_pages(client, user_token):
    labelled = PhotoFactory(label=3, predicted_label=3, confidence=0.9)
    wrong = PhotoFactory(label=1, predicted_label=2, confidence=0.6)
    unlabelled = PhotoFactory(predicted_label=2, confidence=0.4)
    every = client.get("/api/v1/photos", **bearer(user_token)).json()
    assert every["count"] == 3 and [p["id"] for p in every["results"]] == [unlabelled.pk, wrong.pk, labelled.pk]
    assert every["results"][0]["predicted_name"] == "Pullover"

    def ids(query):
        return [p["id"] for p in client.get(f"/api/v1/photos?{query}", **bearer(user_token)).json()["results"]]

    assert ids("show=wrong") == [wrong.pk]
    assert ids("show=unlabelled") == [unlabelled.pk]
    assert ids("predicted=2&order=-confidence") == [wrong.pk, unlabelled.pk]
    assert ids("label=3") == [labelled.pk]
    page = client.get("/api/v1/photos?page_size=2&page=2", **bearer(user_token)).json()
    assert page["pages"] == 2 and page["page"] == 2 and len(page["results"]) == 1


def test_photos_list_refuses_a_page_that_is_no_number(client, user_token):
    response = client.get("/api/v1/photos?page=two", **bearer(user_token))
    assert response.status_code == 400 and "page" in response.json()["error"]


def test_uploading_a_photo_adds_it_to_the_gallery_and_queues_its_preparation(client, user_token, sent_tasks,
                                                                             django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    CheckpointFactory()  # a succeeded run's checkpoint: new photos are predicted with it
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/photos", {"image": SimpleUploadedFile("shirt.png", png_bytes())},
                               **bearer(user_token))
    assert response.status_code == 201
    photo = Photo.objects.get(pk=response.json()["id"])
    assert photo.original_name == "shirt.png" and photo.uploaded_by == ApiToken.objects.get().user
    assert response.json()["state"] == "preparing"  # a worker prepares it, then queues its prediction
    assert [name for name, _ in sent_tasks] == ["worker.tasks.prepare_photos"]


def test_uploading_the_same_photo_twice_is_400(client, user_token, sent_tasks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = encoded(item_on_white(), "PNG")
    assert client.post("/api/v1/photos", {"image": SimpleUploadedFile("a.png", data)},
                       **bearer(user_token)).status_code == 201
    again = client.post("/api/v1/photos", {"image": SimpleUploadedFile("b.png", data)}, **bearer(user_token))
    assert again.status_code == 400 and "already in the gallery" in again.json()["error"]


def test_labelling_a_photo_is_kept_in_its_history(client, user_token):
    photo = PhotoFactory()
    response = client.post(f"/api/v1/photos/{photo.pk}/label", {"label": 7}, content_type="application/json",
                           **bearer(user_token))
    assert response.status_code == 200 and response.json()["label"] == 7 and response.json()["label_name"] == "Sneaker"
    client.post(f"/api/v1/photos/{photo.pk}/label", {"label": None}, content_type="application/json",
                **bearer(user_token))
    history = client.get(f"/api/v1/photos/{photo.pk}/history", **bearer(user_token)).json()
    assert [(c["from_label"], c["to_label"], c["source"]) for c in history] == [(7, None, "api"), (None, 7, "api")]
    assert LabelCorrection.objects.filter(photo=photo).count() == 2


@pytest.mark.parametrize("body", [{"label": 10}, {"label": -1}, {"label": "shirt"}, {}])
def test_a_label_that_is_no_class_is_400(client, user_token, body):
    photo = PhotoFactory()
    response = client.post(f"/api/v1/photos/{photo.pk}/label", body, content_type="application/json",
                           **bearer(user_token))
    assert response.status_code == 400 and response.json()["error"]
    assert Photo.objects.get(pk=photo.pk).label is None


def test_a_photo_that_does_not_exist_is_404(client, user_token):
    for url in ["/api/v1/photos/999", "/api/v1/photos/999/history"]:
        response = client.get(url, **bearer(user_token))
        assert response.status_code == 404 and response.json() == {"error": "Not found."}
    response = client.post("/api/v1/photos/999/label", {"label": 1}, content_type="application/json",
                           **bearer(user_token))
    assert response.status_code == 404


def test_a_photos_detail_has_its_probabilities(client, user_token):
    photo = PhotoFactory(predicted_label=0, confidence=0.5, probabilities=[0.5] + [0.5 / 9] * 9)
    answer = client.get(f"/api/v1/photos/{photo.pk}", **bearer(user_token)).json()
    assert answer["probabilities"][0] == 0.5 and len(answer["probabilities"]) == 10


# --- runs -----------------------------------------------------------------------------------


def test_runs_list_and_detail(client, user_token):
    run = TrainingRunFactory(status="succeeded")
    EpochLogFactory(run=run, epoch=1)
    checkpoint = CheckpointFactory(run=run, epoch=1)
    listed = client.get("/api/v1/runs", **bearer(user_token)).json()
    assert [r["id"] for r in listed] == [run.pk] and listed[0]["status"] == "succeeded"
    detail = client.get(f"/api/v1/runs/{run.pk}", **bearer(user_token)).json()
    assert detail["epochs"][0]["val_acc"] == 0.82 and detail["checkpoints"][0]["id"] == checkpoint.pk
    assert detail["config"]["preset"] == "seed"
    assert client.get("/api/v1/runs/999", **bearer(user_token)).status_code == 404


def test_staff_tokens_start_runs(client, staff_token, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/runs", {"preset": "seed", "epochs": 1, "limit": 500, "note": "from a script"},
                               content_type="application/json", **bearer(staff_token))
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued" and run.config["epochs"] == 1 and run.note == "from a script"
    assert run.created_by == ApiToken.objects.get().user
    assert sent_tasks == [("worker.tasks.train_run", run.pk)]


def test_other_tokens_may_not_start_runs(client, user_token, sent_tasks):
    response = client.post("/api/v1/runs", {"preset": "seed"}, content_type="application/json", **bearer(user_token))
    assert response.status_code == 403 and "staff" in response.json()["error"]
    assert not TrainingRun.objects.exists() and sent_tasks == []


@pytest.mark.parametrize("body, message", [
    ({"preset": "nope"}, "preset"),
    ({"preset": "seed", "epochs": 0}, "epochs"),
    ({"preset": "seed", "budget": "soon"}, "budget"),
])
def test_a_run_the_new_run_page_would_refuse_is_400(client, staff_token, sent_tasks, body, message):
    response = client.post("/api/v1/runs", body, content_type="application/json", **bearer(staff_token))
    assert response.status_code == 400, response.json()
    assert message in response.json()["error"].lower() or message in str(response.json().get("fields"))
    assert not TrainingRun.objects.exists()


# --- reports, checkpoints, the active model ------------------------------------------------


def test_a_report_has_its_per_class_figures_and_confusion_matrix(client, user_token):
    labels = [0, 0, 1, 1, 2]
    logits = [[5, 0, 0] + [0] * 7, [0, 5, 0] + [0] * 7, [0, 5, 0] + [0] * 7, [0, 5, 0] + [0] * 7,
              [0, 0, 5] + [0] * 7]
    report = report_from_logits(labels, logits)
    answer = client.get(f"/api/v1/reports/{report.pk}", **bearer(user_token)).json()
    assert answer["n"] == 5 and answer["accuracy"] == pytest.approx(0.8)
    assert answer["confusion_matrix"][0][:3] == [1, 1, 0] and answer["confusion_matrix"][1][:3] == [0, 2, 0]
    assert answer["per_class"][0]["recall"] == pytest.approx(0.5) and answer["per_class"][1]["support"] == 2
    assert answer["per_class"][1]["precision"] == pytest.approx(2 / 3)
    assert client.get("/api/v1/reports/999", **bearer(user_token)).status_code == 404


def test_checkpoints_list_marks_the_active_model(client, user_token):
    old = CheckpointFactory()
    active = CheckpointFactory()
    PromotionFactory(checkpoint=active)
    answer = client.get("/api/v1/checkpoints", **bearer(user_token)).json()
    assert {c["id"]: c["is_active"] for c in answer} == {old.pk: False, active.pk: True}


def test_staff_tokens_promote_a_checkpoint(client, staff_token, sent_tasks):
    checkpoint = checkpoint_with_file()
    url = f"/api/v1/checkpoints/{checkpoint.pk}/promote"
    unread = client.post(url, {"reason": "better on photos"}, content_type="application/json", **bearer(staff_token))
    assert unread.status_code == 400 and "Not evaluated on Fashion-MNIST test yet" in unread.json()["error"]
    response = client.post(url, {"reason": "better on photos", "acknowledge_warnings": True},
                           content_type="application/json", **bearer(staff_token))
    assert response.status_code == 201, response.json()
    assert Promotion.objects.get().checkpoint == checkpoint and response.json()["checkpoint"] == checkpoint.pk
    model = client.get("/api/v1/model", **bearer(staff_token)).json()
    assert model["promoted"] and model["checkpoint"]["id"] == checkpoint.pk


def test_other_tokens_may_not_promote(client, user_token):
    checkpoint = checkpoint_with_file()
    response = client.post(f"/api/v1/checkpoints/{checkpoint.pk}/promote",
                           {"reason": "x", "acknowledge_warnings": True}, content_type="application/json",
                           **bearer(user_token))
    assert response.status_code == 403 and not Promotion.objects.exists()


def test_promoting_without_a_reason_or_a_file_is_400(client, staff_token):
    checkpoint = checkpoint_with_file()
    response = client.post(f"/api/v1/checkpoints/{checkpoint.pk}/promote", {"reason": " "},
                           content_type="application/json", **bearer(staff_token))
    assert response.status_code == 400 and "Say why" in response.json()["error"]
    no_file = CheckpointFactory()
    response = client.post(f"/api/v1/checkpoints/{no_file.pk}/promote", {"reason": "x", "acknowledge_warnings": True},
                           content_type="application/json", **bearer(staff_token))
    assert response.status_code == 400 and "missing" in response.json()["error"]
    assert client.post("/api/v1/checkpoints/999/promote", {"reason": "x"}, content_type="application/json",
                       **bearer(staff_token)).status_code == 404


def test_the_active_model_before_any_promotion_is_the_best_checkpoint_by_validation_accuracy(client, user_token):
    assert client.get("/api/v1/model", **bearer(user_token)).json()["checkpoint"] is None
    checkpoint = CheckpointFactory(val_acc=0.9)
    CheckpointFactory(val_acc=0.8)  # newer, worse
    model = client.get("/api/v1/model", **bearer(user_token)).json()
    assert model["checkpoint"]["id"] == checkpoint.pk and model["promoted"] is False
    assert {d["dataset"] for d in model["scorecard"]} >= {"fmnist-test"}


def test_a_stored_photo_keeps_its_gallery_prediction_when_no_worker_answers(client, user_token, settings):
    """No worker listens in this test: predict says 503 after API_PREDICT_TIMEOUT_S, and the
    photo stored with store=true is still queued for the gallery's prediction."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.models import PredictionJob

    settings.API_PREDICT_TIMEOUT_S = 1
    CheckpointFactory()
    response = client.post("/api/v1/predict", {"image": SimpleUploadedFile("a.jpg", jpeg_bytes()), "store": "true"},
                           **bearer(user_token))
    assert response.status_code == 503 and response.json()["error"]
    assert Photo.objects.count() == 1 and PredictionJob.objects.count() == 1
