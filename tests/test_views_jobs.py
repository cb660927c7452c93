"""Every kind of job is cancelled from its own page, after a confirmation, by staff or by
whoever started it; a prediction job has a page of its own."""

import pytest
from django.test import Client
from django.urls import reverse

from classifier.models import EvaluationReport, JobStatus, PredictionJob, TrainingRun
from classifier.services import jobs as job_services
from tests.factories import EvaluationReportFactory, PredictionJobFactory, StaffFactory, TrainingRunFactory, UserFactory

pytestmark = pytest.mark.django_db

KINDS = {"run": (TrainingRun, TrainingRunFactory, "created_by"),
         "report": (EvaluationReport, EvaluationReportFactory, "requested_by"),
         "prediction": (PredictionJob, PredictionJobFactory, "requested_by")}
every_kind = pytest.mark.parametrize("kind", list(KINDS))


def _job(kind, owner, running=False):
    model, factory, owner_field = KINDS[kind]
    job = factory(**{owner_field: owner})
    if running:
        job = job_services.job_claim(model=model, job_id=job.pk, worker_host="gpu-1 (pid 7)")
    return job


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@every_kind
def test_whoever_started_a_job_cancels_it_from_its_page_after_confirming(kind):
    owner = UserFactory()
    job = _job(kind, owner, running=True)
    client = _client(owner)
    url = reverse("job_cancel", args=[kind, job.pk])
    page = client.get(job.get_absolute_url()).content.decode()
    assert f'href="{url}"' in page
    confirm = client.get(url)
    assert confirm.status_code == 200 and "stops it at its next batch" in confirm.content.decode()
    job.refresh_from_db()
    assert not job.cancel_requested
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.cancelled_by == owner and job.cancel_requested_at
    page = client.get(job.get_absolute_url()).content.decode()
    assert f"cancel requested by {owner.username}" in page and f'href="{url}"' not in page


@every_kind
def test_a_queued_job_is_cancelled_at_once_by_staff(kind):
    staff = StaffFactory()
    job = _job(kind, UserFactory())
    assert "has not started yet" in _client(staff).get(reverse("job_cancel", args=[kind, job.pk])).content.decode()
    _client(staff).post(reverse("job_cancel", args=[kind, job.pk]))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancelled_by == staff


@every_kind
def test_others_may_not_cancel_and_see_no_button(kind):
    job = _job(kind, UserFactory(), running=True)
    other = _client(UserFactory())
    url = reverse("job_cancel", args=[kind, job.pk])
    assert f'href="{url}"' not in other.get(job.get_absolute_url()).content.decode()
    assert other.get(url).status_code == 403 and other.post(url).status_code == 403
    job.refresh_from_db()
    assert not job.cancel_requested


def test_a_cancel_needs_a_csrf_token_and_an_existing_kind():
    staff = StaffFactory()
    job = _job("run", staff, running=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(reverse("job_cancel", args=["run", job.pk])).status_code == 403
    assert client.get(reverse("job_cancel", args=["nonsense", job.pk])).status_code == 404
    job.refresh_from_db()
    assert not job.cancel_requested


def test_a_finished_job_cannot_be_cancelled_and_the_page_says_so():
    staff = StaffFactory()
    job = _job("prediction", staff, running=True)
    job_services.job_succeed(job=job)
    response = _client(staff).post(reverse("job_cancel", args=["prediction", job.pk]), follow=True)
    assert "is succeeded already" in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and not job.cancel_requested


def test_a_prediction_job_page_shows_its_progress_and_live_part():
    job = _job("prediction", UserFactory(), running=True)
    PredictionJob.objects.filter(pk=job.pk).update(total=40, done=10, progress=0.25)
    client = _client(UserFactory())
    page = client.get(reverse("prediction_job_detail", args=[job.pk])).content.decode()
    assert "10 of 40 photos" in page and 'aria-valuenow="25"' in page
    assert reverse("prediction_job_live", args=[job.pk]) in page
    fragment = client.get(reverse("prediction_job_live", args=[job.pk])).content.decode()
    assert 'data-active="1"' in fragment


def test_a_failed_job_shows_one_line_and_no_traceback():
    job = _job("prediction", UserFactory(), running=True)
    job_services.job_fail(job=job, error="The job's checkpoint was deleted.",
                          detail='Traceback (most recent call last):\n  File "/srv/worker/prediction_job.py"')
    page = _client(UserFactory()).get(reverse("prediction_job_detail", args=[job.pk])).content.decode()
    assert "The job&#x27;s checkpoint was deleted." in page and "Traceback" not in page and "/srv" not in page


@pytest.mark.django_db(transaction=True)  # committed as in production, so the job is sent within the request
def test_a_job_the_queue_did_not_take_says_so(monkeypatch):
    from kombu.exceptions import OperationalError

    from fmnistsite.celery import app

    def broker_down(*_args, **_kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    staff = StaffFactory()
    response = _client(staff).post(reverse("run_new"), {"preset": "seed", "epochs": "1", "device": "auto"},
                                   follow=True)
    page = response.content.decode()
    assert response.status_code == 200 and "can&#x27;t be reached right now" in page
    assert "not sent to a worker yet" in page
    run = TrainingRun.objects.get()
    assert run.status == JobStatus.QUEUED and run.sent_at is None
