"""The gallery's possibly mislabelled filter and order, the staff trigger, the job page, and confirming on the photo page."""

import pytest
from django.test import Client
from django.utils import timezone

from classifier.models import JobStatus, LabelCorrection, LabelIssueJob, LabelScore
from classifier.services import photos as photo_services
from tests.factories import PhotoFactory, TrainingRunFactory, checkpoint_with_file

pytestmark = pytest.mark.django_db


def _scored(plain_user):
    """Three labelled photos and a finished job that flagged one of them (T-shirt, looks like a shirt)."""
    photos = [PhotoFactory() for _ in range(3)]
    for photo, label in zip(photos, (0, 1, 2)):
        photo_services.photo_label_set(photo=photo, label=label, user=plain_user)
    now = timezone.now()
    job = LabelIssueJob.objects.create(checkpoint=checkpoint_with_file(), status=JobStatus.SUCCEEDED, started_at=now,
                                       finished_at=now, total=3, suspects=1)
    for photo, label, score, issue in zip(photos, (0, 1, 2), (0.97, 0.02, 0.4), (True, False, False)):
        LabelScore.objects.create(job=job, photo=photo, label=label, suspected=6, score=score, label_probability=1 - score,
                                  is_issue=issue, scored_by="checkpoint #1")
    return photos, job


def test_the_gallery_shows_the_suspects_with_label_class_and_score(user_client, plain_user):
    photos, _job = _scored(plain_user)
    page = user_client.get("/photos/", {"show": "suspects"}).content.decode()
    assert f'data-photo-id="{photos[0].pk}"' in page
    assert f'data-photo-id="{photos[1].pk}"' not in page and f'data-photo-id="{photos[2].pk}"' not in page
    assert "possibly mislabelled" in page and "Shirt</strong>" in page and "0.97" in page

    page = user_client.get("/photos/", {"order": "suspicion"}).content.decode()
    order = [page.index(f'data-photo-id="{p.pk}"') for p in (photos[0], photos[2], photos[1])]
    assert order == sorted(order)


def test_confirming_is_a_correction_and_ends_the_suspicion(user_client, plain_user):
    photos, _job = _scored(plain_user)
    page = user_client.get(f"/photos/{photos[0].pk}/").content.decode()
    assert 'id="photo-suspicion"' in page and "photo.js" in page
    response = user_client.post(f"/photos/{photos[0].pk}/confirm/", {"source": "photo page (confirm key)"},
                                HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["ok"]
    correction = LabelCorrection.objects.filter(photo=photos[0]).order_by("-pk").first()
    assert (correction.from_label, correction.to_label, correction.source) == (0, 0, "photo page (confirm key)")
    assert correction.user == plain_user
    page = user_client.get("/photos/", {"show": "suspects"}).content.decode()
    assert f'data-photo-id="{photos[0].pk}"' not in page
    page = user_client.get(f"/photos/{photos[0].pk}/").content.decode()
    assert 'id="photo-suspicion"' not in page and "photo page (confirm key)" in page  # in the history


def test_confirming_a_photo_without_a_label_is_refused(user_client):
    photo = PhotoFactory()
    response = user_client.post(f"/photos/{photo.pk}/confirm/", HTTP_ACCEPT="application/json")
    assert response.status_code == 409 and "no label to confirm" in response.json()["error"]


def test_only_staff_start_the_job_and_it_is_sent_to_a_worker(staff_client, plain_user, sent_tasks,
                                                              django_capture_on_commit_callbacks):
    checkpoint = checkpoint_with_file(run=TrainingRunFactory(status=JobStatus.SUCCEEDED))
    plain = Client()
    plain.force_login(plain_user)
    assert plain.post("/photos/label-issues/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/photos/label-issues/", {"folds": "3"})
    job = LabelIssueJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/label-issue-jobs/{job.pk}/"
    assert (job.checkpoint, job.folds) == (checkpoint, 3)
    assert sent_tasks == [("worker.tasks.find_label_issues", job.pk)]
    page = staff_client.get(f"/label-issue-jobs/{job.pk}/").content.decode()
    assert "queued" in page and f"/jobs/label-issues/{job.pk}/cancel/" in page
    response = staff_client.post("/photos/label-issues/", {"folds": "1"}, follow=True)
    assert "folds must be 0" in response.content.decode()
    assert staff_client.post("/photos/label-issues/", {"folds": "x"}).status_code == 302
    assert LabelIssueJob.objects.count() == 1


def test_a_finished_jobs_page_lists_the_suspects_still_waiting(user_client, plain_user):
    photos, job = _scored(plain_user)
    page = user_client.get(f"/label-issue-jobs/{job.pk}/").content.decode()
    assert 'id="suspects"' in page and f'href="/photos/{photos[0].pk}/"' in page and "0.970" in page
    assert f'href="/photos/{photos[1].pk}/"' not in page
    photo_services.photo_label_set(photo=photos[0], label=6, user=plain_user)  # fixed: off the list
    page = user_client.get(f"/label-issue-jobs/{job.pk}/live/").content.decode()
    assert "Nothing left" in page


def test_the_admin_lists_label_issue_jobs_and_cancels_them(django_user_model):
    admin_client = Client()
    admin_client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    job = LabelIssueJob.objects.create(checkpoint=checkpoint_with_file())
    page = admin_client.get("/admin/classifier/labelissuejob/")
    assert page.status_code == 200 and f"/admin/classifier/labelissuejob/{job.pk}/change/" in page.content.decode()
    admin_client.post("/admin/classifier/labelissuejob/", {"action": "cancel_jobs", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
