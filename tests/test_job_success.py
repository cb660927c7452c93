"""A job's success and what it starts commit together: a page polling the job never sees it
succeeded before its follow-up jobs exist (the run page stops polling when nothing is active),
and a follow-up that fails leaves the job succeeded."""

import threading

import pytest
from django.db import connections

from classifier.models import JobStatus, Tag, TrainingRun
from tests.factories import TrainingRunFactory
from worker.jobs import run_job

pytestmark = pytest.mark.django_db(transaction=True)


def _status_seen_elsewhere(job_id: int) -> str:
    """The job's status as another connection (another thread: another page) reads it now."""
    seen = {}

    def read():
        try:
            seen["status"] = TrainingRun.objects.get(pk=job_id).status
        finally:
            connections.close_all()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=30)
    return seen["status"]


def test_no_one_sees_the_success_before_what_it_starts():
    run = TrainingRunFactory()
    seen = []

    def after_success(job):
        Tag.objects.create(name="follow-up")
        seen.append(_status_seen_elsewhere(job.pk))

    done = run_job(TrainingRun, run.pk, lambda job: None, after_success=after_success)
    assert done.status == JobStatus.SUCCEEDED
    assert seen == [JobStatus.RUNNING]  # not yet committed while the follow-ups were made
    assert Tag.objects.filter(name="follow-up").exists()


def test_a_failing_follow_up_leaves_the_job_succeeded_and_writes_nothing():
    run = TrainingRunFactory()

    def after_success(job):
        Tag.objects.create(name="half-done")
        raise RuntimeError("the queue went away")

    done = run_job(TrainingRun, run.pk, lambda job: None, after_success=after_success)
    assert done.status == JobStatus.SUCCEEDED and done.progress == 1.0
    assert not Tag.objects.filter(name="half-done").exists()
