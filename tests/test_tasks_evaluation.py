"""The evaluation task, and the training task queueing a report when a run succeeds, called
directly in this process."""

from datetime import timedelta

from django.utils import timezone

from classifier.models import EvaluationReport, ReportOrigin, RunStatus
from classifier.services import evaluation as evaluation_services
from classifier.services import training as training_services
from tests.factories import CheckpointFactory, TrainingRunFactory, real_checkpoint, tiny_config
from worker.tasks.evaluation import evaluate_report
from worker.tasks.training import sweep_runs, train_run


def _queued(checkpoint) -> EvaluationReport:
    return evaluation_services.evaluation_report_create(checkpoint=checkpoint, requested_by=None, enqueue=False)


def test_the_task_scores_a_queued_report(db, trained_weights, small_test_set):
    report = _queued(real_checkpoint(trained_weights))
    evaluate_report(report.pk)
    report.refresh_from_db()
    assert report.status == RunStatus.SUCCEEDED, report.error
    assert report.n_samples == 500 and "pid" in report.worker_host


def test_the_task_marks_a_report_failed_with_its_reason(db):
    report = _queued(CheckpointFactory())
    evaluate_report(report.pk)
    report.refresh_from_db()
    assert report.status == RunStatus.FAILED and "missing" in report.error


def test_a_succeeded_run_queues_a_report_of_its_best_checkpoint(db, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(evaluation_services, "_enqueue_evaluation", sent.append)
    run = TrainingRunFactory(config=tiny_config(epochs=2, limit=256).to_dict())
    with django_capture_on_commit_callbacks(execute=True):
        train_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    report = EvaluationReport.objects.get()
    best = run.checkpoints.order_by("-val_acc", "epoch").first()
    assert report.checkpoint == best and report.checkpoint_sha256 == best.sha256
    assert report.origin == ReportOrigin.TRAINING and report.requested_by is None
    assert report.status == RunStatus.QUEUED and sent == [report.pk]


def test_a_failed_run_queues_no_report(db):
    run = TrainingRunFactory(config=tiny_config(device="cuda").to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and not EvaluationReport.objects.exists()


def test_the_sweep_task_fails_stale_runs_and_stale_reports(db):
    run = TrainingRunFactory()
    training_services.training_run_claim(run_id=run.pk, worker_host="gone")
    report = _queued(CheckpointFactory())
    evaluation_services.evaluation_report_claim(report_id=report.pk, worker_host="gone")
    long_ago = timezone.now() - timedelta(hours=1)
    type(run).objects.filter(pk=run.pk).update(heartbeat_at=long_ago)
    EvaluationReport.objects.filter(pk=report.pk).update(heartbeat_at=long_ago)
    assert sweep_runs() == {"runs": [run.pk], "reports": [report.pk], "prediction_jobs": []}
