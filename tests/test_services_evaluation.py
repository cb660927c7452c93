from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from classifier.models import EvaluationReport, ReportOrigin, RunStatus
from classifier.services import evaluation as services
from tests.factories import CheckpointFactory, UserFactory, real_checkpoint
from worker import engine


@pytest.fixture
def sent(monkeypatch):
    queued = []
    monkeypatch.setattr(services, "_enqueue_evaluation", queued.append)
    return queued


def _queued(checkpoint, **kwargs) -> EvaluationReport:
    return services.evaluation_report_create(checkpoint=checkpoint, requested_by=None, enqueue=False, **kwargs)


def test_create_records_a_queued_report_and_enqueues_after_commit(staff_user, sent, django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory(epoch=3, sha256="ab" * 32)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
        assert sent == []  # nothing leaves before the transaction commits
    assert report.status == RunStatus.QUEUED and report.dataset_name == "fmnist-test"
    assert (report.run, report.checkpoint_epoch, report.checkpoint_sha256) == (checkpoint.run, 3, "ab" * 32)
    assert report.requested_by == staff_user and report.origin == ReportOrigin.PAGE
    for callback in callbacks:
        callback()
    assert sent == [report.pk]


def test_create_refuses_non_staff(db, sent):
    with pytest.raises(PermissionDenied):
        services.evaluation_report_create(checkpoint=CheckpointFactory(), requested_by=UserFactory())
    assert not EvaluationReport.objects.exists()


def test_create_refuses_an_unknown_dataset(staff_user, sent):
    with pytest.raises(services.UnknownDataset, match="unknown dataset 'imagenet'"):
        services.evaluation_report_create(checkpoint=CheckpointFactory(), dataset_name="imagenet",
                                          requested_by=staff_user)
    assert not EvaluationReport.objects.exists()


def test_asking_twice_while_one_is_pending_returns_the_pending_report(staff_user, sent,
                                                                        django_capture_on_commit_callbacks):
    checkpoint = CheckpointFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
        second = services.evaluation_report_create(checkpoint=checkpoint, requested_by=staff_user)
    assert first.pk == second.pk and sent == [first.pk]


def test_run_scores_a_real_checkpoint_and_stores_figures_and_predictions(db, trained_weights, small_test_set):
    checkpoint = real_checkpoint(trained_weights)
    report = services.evaluation_report_run(report_id=_queued(checkpoint).pk, worker_host="here")
    assert report.status == RunStatus.SUCCEEDED, report.error
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
    report = services.evaluation_report_run(report_id=_queued(checkpoint).pk)
    model, payload = engine.load_checkpoint(trained_weights)
    # At the precision the report used: bf16 on CPUs that have it natively, else fp32.
    loss, accuracy = engine.evaluate(model, torch.from_numpy(small_test_set.images.copy()),
                                     torch.from_numpy(small_test_set.labels.copy()), engine.preset_of(payload),
                                     precision=report.precision)
    assert report.accuracy == pytest.approx(accuracy) and report.loss == pytest.approx(loss, rel=1e-5)


def test_a_tampered_checkpoint_file_is_refused_and_the_report_says_why(db, trained_weights, small_test_set):
    checkpoint = real_checkpoint(trained_weights)
    path = Path(checkpoint.file.path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    report = services.evaluation_report_run(report_id=_queued(checkpoint).pk)
    assert report.status == RunStatus.FAILED and report.finished_at
    assert "has changed since it was written" in report.error and checkpoint.sha256 in report.error
    assert "Traceback" not in report.error and report.predictions is None


def test_a_missing_checkpoint_file_fails_the_report(db, small_test_set):
    report = services.evaluation_report_run(report_id=_queued(CheckpointFactory()).pk)
    assert report.status == RunStatus.FAILED and "checkpoint file is missing" in report.error


def test_a_deleted_checkpoint_fails_the_report_but_the_report_stays(db, trained_weights):
    checkpoint = real_checkpoint(trained_weights)
    report = _queued(checkpoint)
    checkpoint.delete()
    report = services.evaluation_report_run(report_id=report.pk)
    assert report.status == RunStatus.FAILED and "was deleted" in report.error


def test_an_unknown_dataset_on_a_stored_report_fails_it(db, trained_weights):
    report = _queued(real_checkpoint(trained_weights))
    EvaluationReport.objects.filter(pk=report.pk).update(dataset_name="/nowhere/photos.csv")
    report = services.evaluation_report_run(report_id=report.pk)
    assert report.status == RunStatus.FAILED and "unknown dataset" in report.error


def test_run_leaves_a_report_that_is_not_queued_alone(db):
    report = _queued(CheckpointFactory())
    services.evaluation_report_fail(report_id=report.pk, error="given up")
    assert services.evaluation_report_run(report_id=report.pk) is None
    report.refresh_from_db()
    assert report.status == RunStatus.FAILED and report.started_at is None


def test_progress_is_reported_per_batch(db, trained_weights, small_test_set, monkeypatch):
    monkeypatch.setattr("worker.evaluation.BATCH_SIZE", 200)
    seen = []
    services.evaluation_report_run(report_id=_queued(real_checkpoint(trained_weights)).pk,
                                   on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(200, 500), (400, 500), (500, 500)]


def test_claim_lets_only_one_worker_have_a_report(db):
    report = _queued(CheckpointFactory())
    assert services.evaluation_report_claim(report_id=report.pk, worker_host="a") is not None
    assert services.evaluation_report_claim(report_id=report.pk, worker_host="b") is None


def test_sweep_fails_only_reports_whose_heartbeat_is_stale(db):
    stale, fresh, queued = (_queued(CheckpointFactory()) for _ in range(3))
    for report in (stale, fresh):
        services.evaluation_report_claim(report_id=report.pk, worker_host="host-a")
    EvaluationReport.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert services.evaluation_reports_sweep(stale_after_s=60) == [stale.pk]
    stale.refresh_from_db(); fresh.refresh_from_db(); queued.refresh_from_db()
    assert stale.status == RunStatus.FAILED and "stopped responding" in stale.error and "host-a" in stale.error
    assert fresh.status == RunStatus.RUNNING and queued.status == RunStatus.QUEUED
    with pytest.raises(services.ReportLost):
        services.evaluation_report_heartbeat(report_id=stale.pk, progress=0.5)


def test_a_report_outlives_its_pruned_checkpoint(db):
    report = _queued(CheckpointFactory())
    report.checkpoint.delete()
    report.refresh_from_db()
    assert report.checkpoint is None and report.run_id and report.checkpoint_epoch == 1
