"""Evaluation reports: created by the service, scored by the worker's glue through the job
wrapper (as the task and `manage.py evaluate` both do)."""

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.exceptions import PermissionDenied

from classifier.models import EvaluationReport, JobStatus, ReportOrigin
from classifier.services import evaluation as services
from classifier.services import jobs as job_services
from engine.checkpoints import inference_of, load_checkpoint
from engine.inference import evaluate
from tests.factories import CheckpointFactory, UserFactory, real_checkpoint
from worker.evaluation_job import evaluate_and_record
from worker.jobs import run_job


def _queued(checkpoint, **kwargs) -> EvaluationReport:
    return services.evaluation_report_create(checkpoint=checkpoint, requested_by=None, enqueue=False, **kwargs)


def _score(report_id: int, *, worker_host: str | None = None, **options) -> EvaluationReport | None:
    return run_job(EvaluationReport, report_id, partial(evaluate_and_record, **options), worker_host=worker_host)


def test_create_records_a_queued_report_and_enqueues_after_commit(staff_user, sent_tasks,
                                                                  django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory(epoch=3, sha256="ab" * 32)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
        assert sent_tasks == []  # nothing leaves before the transaction commits
    assert report.status == JobStatus.QUEUED and report.dataset_name == "fmnist-test"
    assert (report.run, report.checkpoint_epoch, report.checkpoint_sha256) == (checkpoint.run, 3, "ab" * 32)
    assert report.requested_by == staff_user and report.origin == ReportOrigin.PAGE
    for callback in callbacks:
        callback()
    assert sent_tasks == [("worker.tasks.evaluate_report", report.pk)]


def test_create_refuses_non_staff(db, sent_tasks):
    with pytest.raises(PermissionDenied):
        services.evaluation_report_create(checkpoint=CheckpointFactory(), requested_by=UserFactory())
    assert not EvaluationReport.objects.exists()


def test_create_refuses_an_unknown_dataset(staff_user, sent_tasks):
    with pytest.raises(services.UnknownDataset, match="unknown dataset 'imagenet'"):
        services.evaluation_report_create(checkpoint=CheckpointFactory(), dataset_name="imagenet",
                                          requested_by=staff_user)
    assert not EvaluationReport.objects.exists()


def test_asking_twice_while_one_is_pending_returns_the_pending_report(staff_user, sent_tasks,
                                                                        django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        second = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
    assert first.pk == second.pk and sent_tasks == [("worker.tasks.evaluate_report", first.pk)]


def test_a_pending_report_whose_message_may_be_lost_is_not_joined(staff_user, sent_tasks,
                                                                 django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    stale = _queued(checkpoint)  # never sent: as if the queue lost it
    EvaluationReport.objects.filter(pk=stale.pk).update(created_at=stale.created_at.replace(year=2020))
    with django_capture_on_commit_callbacks(execute=True):
        fresh = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
    assert fresh.pk != stale.pk and sent_tasks == [("worker.tasks.evaluate_report", fresh.pk)]


def test_run_scores_a_real_checkpoint_and_stores_figures_and_predictions(db, trained_weights, small_test_set):
    checkpoint = real_checkpoint(trained_weights)
    report = _score(_queued(checkpoint).pk, worker_host="here")
    assert report.status == JobStatus.SUCCEEDED, report.error
    assert report.progress == 1.0 and report.worker_host == "here" and report.device.startswith("cpu")
    assert report.n_samples == 500 and report.dataset_fingerprint == small_test_set.fingerprint
    assert report.seconds > 0 and report.finished_at and report.precision in ("fp32", "bf16")
    matrix = np.array(report.confusion_matrix)
    assert matrix.shape == (10, 10) and matrix.sum() == 500
    assert matrix.sum(axis=1).tolist() == np.bincount(small_test_set.labels, minlength=10).tolist()
    assert report.accuracy == pytest.approx(np.trace(matrix) / 500)
    assert [c["support"] for c in report.metrics["per_class"]] == matrix.sum(axis=1).tolist()
    assert 0 <= report.metrics["calibration"]["ece"] <= 1 and report.class_names[0] == "T-shirt/top"
    # Per-sample predictions come back as stored; keys are the test indices, so none are stored.
    table = report.prediction_table
    assert len(table) == 500 and table.labels.tolist() == small_test_set.labels.tolist()
    assert (table.predicted == table.top_classes[:, 0]).all() and report.sample_keys is None
    assert report.sample_key(42) == "42"


def test_the_figures_match_the_engines_validation_path(db, trained_weights, small_test_set):
    """The same checkpoint scored the way training validates gives the same accuracy and loss."""
    checkpoint = real_checkpoint(trained_weights)
    report = _score(_queued(checkpoint).pk)
    model, payload = load_checkpoint(trained_weights)
    # At the precision the report used: bf16 on CPUs that have it natively, else fp32.
    loss, accuracy = evaluate(model, torch.from_numpy(small_test_set.images.copy()),
                              torch.from_numpy(small_test_set.labels.copy()), inference_of(payload),
                              precision=report.precision)
    assert report.accuracy == pytest.approx(accuracy) and report.loss == pytest.approx(loss, rel=1e-5)


def test_a_tampered_checkpoint_file_is_refused_and_the_report_says_why(db, trained_weights, small_test_set):
    checkpoint = real_checkpoint(trained_weights)
    path = Path(checkpoint.file.path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    report = _score(_queued(checkpoint).pk)
    assert report.status == JobStatus.FAILED and report.finished_at
    assert "has changed since it was written" in report.error and checkpoint.sha256[:12] in report.error
    assert "Traceback" not in report.error and report.predictions is None


def test_a_missing_checkpoint_file_fails_the_report(db, small_test_set):
    report = _score(_queued(CheckpointFactory()).pk)
    assert report.status == JobStatus.FAILED and "is missing" in report.error


def test_a_deleted_checkpoint_fails_the_report_but_the_report_stays(db, trained_weights):
    checkpoint = real_checkpoint(trained_weights)
    report = _queued(checkpoint)
    checkpoint.delete()
    report = _score(report.pk)
    assert report.status == JobStatus.FAILED and "was deleted" in report.error


def test_an_unknown_dataset_on_a_stored_report_fails_it(db, trained_weights):
    report = _queued(real_checkpoint(trained_weights))
    EvaluationReport.objects.filter(pk=report.pk).update(dataset_name="/nowhere/photos.csv")
    report = _score(report.pk)
    assert report.status == JobStatus.FAILED and "unknown dataset" in report.error


def test_run_leaves_a_report_that_is_not_queued_alone(db):
    report = _queued(CheckpointFactory())
    job_services.job_fail(job=report, error="given up")
    assert _score(report.pk) is None
    report.refresh_from_db()
    assert report.status == JobStatus.FAILED and report.started_at is None


def test_progress_is_reported_per_batch(db, trained_weights, small_test_set, monkeypatch):
    monkeypatch.setattr("engine.evaluation.BATCH_SIZE", 200)
    seen = []
    report = _score(_queued(real_checkpoint(trained_weights)).pk,
                    on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(200, 500), (400, 500), (500, 500)] and report.progress == 1.0


def test_a_cancelled_report_stops_at_its_next_batch(db, trained_weights, small_test_set, monkeypatch, staff_user,
                                                    settings):
    monkeypatch.setattr("engine.evaluation.BATCH_SIZE", 100)
    settings.JOB_HEARTBEAT_S = 0  # a heartbeat, hence a look for a cancel request, every batch
    report = _queued(real_checkpoint(trained_weights))
    seen = []

    def cancel_after_the_first_batch(done, total):
        seen.append(done)
        if done == 100:
            job_services.job_cancel(job=EvaluationReport.objects.get(pk=report.pk), user=staff_user)

    report = _score(report.pk, on_progress=cancel_after_the_first_batch)
    assert report.status == JobStatus.CANCELLED and report.cancelled_by == staff_user
    assert seen == [100] and report.predictions is None


def test_a_report_outlives_its_pruned_checkpoint(db):
    report = _queued(CheckpointFactory())
    report.checkpoint.delete()
    report.refresh_from_db()
    assert report.checkpoint is None and report.run_id and report.checkpoint_epoch == 1
