"""The evaluation task, and the training task queueing a report when a run succeeds, called
directly in this process."""

from datetime import timedelta

from django.utils import timezone

from classifier.models import EvaluationReport, JobStatus, ReportOrigin, TrainingRun
from classifier.services import evaluation as evaluation_services
from classifier.services import jobs as job_services
from tests.factories import CheckpointFactory, TrainingRunFactory, real_checkpoint, tiny_config
from worker.tasks import evaluate_report, sweep_jobs, train_run


def _queued(checkpoint) -> EvaluationReport:
    return evaluation_services.evaluation_report_create(checkpoint=checkpoint, requested_by=None, enqueue=False)


def test_the_task_scores_a_queued_report(db, trained_weights, small_test_set):
    report = _queued(real_checkpoint(trained_weights))
    evaluate_report(report.pk)
    report.refresh_from_db()
    assert report.status == JobStatus.SUCCEEDED, report.error
    assert report.n_samples == 500 and "pid" in report.worker_host


def test_the_task_marks_a_report_failed_with_its_reason(db):
    report = _queued(CheckpointFactory())
    evaluate_report(report.pk)
    report.refresh_from_db()
    assert report.status == JobStatus.FAILED and "missing" in report.error


def test_a_succeeded_run_queues_a_report_of_its_best_checkpoint(db, sent_tasks, django_capture_on_commit_callbacks):
    run = TrainingRunFactory(config=tiny_config(epochs=2, limit=256).to_dict())
    with django_capture_on_commit_callbacks(execute=True):
        train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    report = EvaluationReport.objects.get()
    best = run.checkpoints.order_by("-val_acc", "epoch").first()
    assert report.checkpoint == best and report.checkpoint_sha256 == best.sha256
    assert report.origin == ReportOrigin.TRAINING and report.requested_by is None
    assert report.status == JobStatus.QUEUED and sent_tasks == [("worker.tasks.evaluate_report", report.pk)]


def test_a_failed_run_queues_no_report(db):
    run = TrainingRunFactory(config=tiny_config(device="cuda").to_dict())
    train_run(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED and not EvaluationReport.objects.exists()


def test_the_sweep_task_settles_every_kind_of_dead_job(db, sent_tasks):
    run = TrainingRunFactory()
    job_services.job_claim(model=TrainingRun, job_id=run.pk, worker_host="gone")
    report = evaluation_services.evaluation_report_create(checkpoint=CheckpointFactory(), requested_by=None,
                                                          enqueue=False)
    job_services.job_claim(model=EvaluationReport, job_id=report.pk, worker_host="gone")
    long_ago = timezone.now() - timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago)
    EvaluationReport.objects.filter(pk=report.pk).update(heartbeat_at=long_ago)
    assert sweep_jobs() == [f"failed (worker died): run {run.pk}", f"started again (worker died): report {report.pk}",
                            "cancelled (worker died while stopping): none", "sent to the queue again: none",
                            "queued for work left waiting: none"]
    assert sent_tasks == [("worker.tasks.evaluate_report", report.pk)]
