"""The one job life cycle, the same for every kind of job: send, claim, heartbeat, cancel,
finish, fail, and the sweep that settles dead jobs and sends lost ones again."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from kombu.exceptions import OperationalError

from classifier.models import EvaluationReport, JobStatus, PredictionJob, TrainingRun
from classifier.services import jobs as services
from fmnistsite.celery import app
from tests.factories import EvaluationReportFactory, PredictionJobFactory, StaffFactory, TrainingRunFactory, UserFactory

pytestmark = pytest.mark.django_db

FACTORIES = {TrainingRun: TrainingRunFactory, EvaluationReport: EvaluationReportFactory,
             PredictionJob: PredictionJobFactory}
every_kind = pytest.mark.parametrize("model", list(FACTORIES), ids=lambda m: m.kind)


def _job(model, **fields):
    """A job of this kind whose requester is a plain (not staff) user."""
    owner = UserFactory()
    owner_field = "created_by" if model is TrainingRun else "requested_by"
    return FACTORIES[model](**{owner_field: owner}, **fields)


def _claimed(model, host="host-a"):
    job = _job(model)
    return services.job_claim(model=model, job_id=job.pk, worker_host=host)


def _ago(**delta):
    return timezone.now() - timedelta(**delta)


@every_kind
def test_enqueue_sends_the_task_by_name_only_after_commit(model, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = _job(model)
        services.job_enqueue(job=job)
        assert sent_tasks == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    assert sent_tasks == [(model.task_name, job.pk)]
    job.refresh_from_db()
    assert job.sent_at is not None and job.sends == 1


def test_a_job_whose_queue_is_unreachable_stays_queued_unsent(monkeypatch):
    def broker_down(*_args, **_kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    run = TrainingRunFactory()
    assert services.job_send(job=run) is False
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and run.sent_at is None and run.sends == 0
    assert run.is_waiting_unsent()


@every_kind
def test_only_one_worker_claims_a_job_and_a_repeated_message_does_nothing(model):
    job = _job(model)
    first = services.job_claim(model=model, job_id=job.pk, worker_host="host-a")
    again = services.job_claim(model=model, job_id=job.pk, worker_host="host-b")
    assert first is not None and first.status == JobStatus.RUNNING and again is None
    job.refresh_from_db()
    assert (job.worker_host, job.attempts) == ("host-a", 1) and job.started_at and job.heartbeat_at


@every_kind
def test_heartbeat_records_progress_and_stops_a_cancelled_job(model):
    job = _claimed(model)
    services.job_heartbeat(job=job, progress=0.4)
    job.refresh_from_db()
    assert job.progress == pytest.approx(0.4)
    staff = StaffFactory()
    job = services.job_cancel(job=job, user=staff)
    assert job.status == JobStatus.RUNNING and job.cancelled_by == staff and job.cancel_requested_at
    with pytest.raises(services.JobCancelled):
        services.job_heartbeat(job=job, progress=0.5)
    assert services.job_mark_cancelled(job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at and job.cancelled_by == staff


@every_kind
def test_heartbeat_tells_a_worker_that_lost_its_job(model):
    job = _claimed(model)
    type(job).objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    with pytest.raises(services.JobLost):
        services.job_heartbeat(job=job, progress=0.5)


def test_heartbeat_throttle_writes_at_most_once_per_interval(django_assert_num_queries):
    run = _claimed(TrainingRun)
    beat = services.Heartbeat(run, interval_s=3600)
    with django_assert_num_queries(1):
        for step in range(50):
            beat(step / 50)
    with django_assert_num_queries(1):
        beat(1.0, force=True)


@every_kind
def test_a_queued_job_is_cancelled_at_once_and_never_claimed(model):
    job = _job(model)
    job = services.job_cancel(job=job, user=job.requester)  # whoever asked for it may cancel it
    assert job.status == JobStatus.CANCELLED and job.cancelled_by == job.requester and job.finished_at
    assert services.job_claim(model=model, job_id=job.pk, worker_host="late") is None


@every_kind
def test_cancel_is_refused_to_others_than_staff_and_the_requester(model):
    job = _job(model)
    assert not services.job_can_cancel(job=job, user=UserFactory())
    with pytest.raises(PermissionDenied):
        services.job_cancel(job=job, user=UserFactory())
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested
    assert services.job_can_cancel(job=job, user=StaffFactory()) and services.job_can_cancel(job=job, user=job.requester)


def test_fail_keeps_a_one_line_reason_for_people_and_the_detail_for_staff():
    run = _claimed(TrainingRun)
    assert services.job_fail(job=run, error="ValueError: boom\n  at line 3", detail="Traceback (most recent call last)")
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and run.error == "ValueError: boom at line 3" and run.finished_at
    assert run.error_detail.startswith("Traceback")


@every_kind
def test_a_finished_job_never_changes_status_again(model):
    job = _claimed(model)
    assert services.job_succeed(job=job)
    assert not services.job_fail(job=job, error="late")
    assert not services.job_mark_cancelled(job=job)
    job = services.job_cancel(job=job, user=StaffFactory())
    assert job.status == JobStatus.SUCCEEDED and job.error == "" and job.progress == 1.0 and not job.cancel_requested


def test_the_sweep_fails_a_run_whose_worker_went_silent(sent_tasks):
    stale, fresh = _claimed(TrainingRun), _claimed(TrainingRun)
    TrainingRun.objects.filter(pk=stale.pk).update(heartbeat_at=_ago(minutes=10))
    result = services.jobs_sweep(stale_after_s=60)
    assert result.failed == {"run": [stale.pk]} and not result.resumed
    stale.refresh_from_db(), fresh.refresh_from_db()
    assert stale.status == JobStatus.FAILED and "stopped responding" in stale.error and "host-a" in stale.error
    assert fresh.status == JobStatus.RUNNING and sent_tasks == []


@pytest.mark.parametrize("model", [EvaluationReport, PredictionJob], ids=lambda m: m.kind)
def test_the_sweep_starts_a_resumable_job_again_once_then_fails_it(model, sent_tasks):
    job = _claimed(model)
    model.objects.filter(pk=job.pk).update(heartbeat_at=_ago(minutes=10), progress=0.7)
    assert services.jobs_sweep(stale_after_s=60).resumed == {model.kind: [job.pk]}
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.progress == 0 and job.worker_host == "" and job.error == ""
    assert sent_tasks == [(model.task_name, job.pk)] and job.sends == 1
    # Its second worker dies too: it may be what kills them, so it is not tried a third time.
    assert services.job_claim(model=model, job_id=job.pk, worker_host="host-b").attempts == 2
    model.objects.filter(pk=job.pk).update(heartbeat_at=_ago(minutes=10))
    assert services.jobs_sweep(stale_after_s=60).failed == {model.kind: [job.pk]}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "tried 2 times" in job.error


def test_a_dead_job_that_was_asked_to_stop_ends_cancelled(sent_tasks):
    report = _claimed(EvaluationReport)
    services.job_cancel(job=report, user=StaffFactory())
    EvaluationReport.objects.filter(pk=report.pk).update(heartbeat_at=_ago(minutes=10))
    assert services.jobs_sweep(stale_after_s=60).cancelled == {"report": [report.pk]}
    report.refresh_from_db()
    assert report.status == JobStatus.CANCELLED and sent_tasks == []


@every_kind
def test_the_sweep_sends_again_a_queued_job_whose_message_may_be_lost(model, sent_tasks, settings):
    settings.JOB_RESEND_AFTER_S = 600
    lost = _job(model, sent_at=_ago(minutes=11), sends=1)
    recent = _job(model, sent_at=_ago(minutes=5), sends=1)
    never_sent = _job(model, created_at=_ago(minutes=2))  # the queue was down when it was made
    just_made = _job(model)  # its request may still be sending it
    result = services.jobs_sweep()
    assert sorted(result.resent[model.kind]) == sorted([lost.pk, never_sent.pk])
    assert sorted(sent_tasks) == sorted([(model.task_name, lost.pk), (model.task_name, never_sent.pk)])
    for job, sends in ((lost, 2), (recent, 1), (never_sent, 1), (just_made, 0)):
        job.refresh_from_db()
        assert job.status == JobStatus.QUEUED and job.sends == sends


def test_each_further_resend_waits_twice_as_long(sent_tasks, settings):
    settings.JOB_RESEND_AFTER_S = 600
    waited_15_min = TrainingRunFactory(sent_at=_ago(minutes=15), sends=2)  # second wait is 20 min
    waited_25_min = TrainingRunFactory(sent_at=_ago(minutes=25), sends=2)
    assert services.jobs_sweep().resent == {"run": [waited_25_min.pk]}
    assert waited_15_min.pk not in [pk for _, pk in sent_tasks]


def test_a_stale_queued_job_is_not_joined_by_new_requests():
    alive = TrainingRunFactory(sent_at=timezone.now(), sends=1)
    assert services.job_alive(TrainingRun.objects.all()) == alive
    TrainingRun.objects.filter(pk=alive.pk).update(sent_at=_ago(hours=1))
    assert services.job_alive(TrainingRun.objects.all()) is None
    running = _claimed(TrainingRun)
    assert services.job_alive(TrainingRun.objects.all()) == running
    TrainingRun.objects.filter(pk=running.pk).update(heartbeat_at=_ago(hours=1))
    assert services.job_alive(TrainingRun.objects.all()) is None


def test_pages_sweep_at_most_once_per_interval(settings, monkeypatch, client, staff_user):
    calls = []
    monkeypatch.setattr(services, "jobs_sweep", lambda: calls.append(1))
    monkeypatch.setattr(services, "_last_web_sweep", -float("inf"))
    settings.JOB_WEB_SWEEP_S = 3600
    client.force_login(staff_user)
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert calls == [1]


def test_a_page_settles_a_dead_run_when_no_worker_is_alive(settings, monkeypatch, client, staff_user):
    monkeypatch.setattr(services, "_last_web_sweep", -float("inf"))
    settings.JOB_WEB_SWEEP_S, settings.JOB_STALE_AFTER_S = 60, 60
    run = _claimed(TrainingRun)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=_ago(minutes=10))
    client.force_login(staff_user)
    page = client.get(run.get_absolute_url()).content.decode()
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and "stopped responding" in page


def test_time_left_and_staleness_are_derived_from_the_row(settings):
    run = _claimed(TrainingRun)
    TrainingRun.objects.filter(pk=run.pk).update(started_at=_ago(seconds=100), progress=0.25)
    run.refresh_from_db()
    assert run.time_left().total_seconds() == pytest.approx(300, abs=5)
    assert not run.is_stale()
    assert run.is_stale(now=timezone.now() + timedelta(seconds=settings.JOB_STALE_AFTER_S + 5))
