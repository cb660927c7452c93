"""The Celery tasks: one per kind of job, each a few lines, given the job life cycle by
worker.jobs.job_task. The web sends them by name (the models' task_name) and never imports
this module.

The engine (torch) is imported here, at module level, on purpose: the worker's main process
imports this module before it starts its pool, so pool processes fork with torch already
loaded and start in well under Celery's start-up deadline."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import close_old_connections

from classifier.models import EvaluationReport, LabelIssueJob, PredictionJob, TrainingRun
from classifier.services import jobs as job_services
from worker import evaluation_job, label_issues_job, prediction_job, training_job
from worker.jobs import job_task

logger = logging.getLogger(__name__)


@job_task(TrainingRun, after_success=training_job.after_success)
def train_run(run: TrainingRun) -> None:
    """Train the run; when it succeeds, queue its reports and its second opinion on the photos."""
    training_job.train_and_record(run)


@job_task(EvaluationReport)
def evaluate_report(report: EvaluationReport) -> dict:
    """Score the report's checkpoint on its dataset."""
    return evaluation_job.evaluate_and_record(report)


@job_task(PredictionJob)
def predict_photos(job: PredictionJob) -> None:
    """Predict the job's photos with its checkpoint."""
    prediction_job.predict_and_record(job)


@job_task(LabelIssueJob)
def find_label_issues(job: LabelIssueJob) -> dict:
    """Score every labelled photo for how likely its label is wrong."""
    return label_issues_job.find_and_record(job)


@shared_task(name="worker.tasks.sweep_jobs")
def sweep_jobs() -> list[str]:
    return job_services.jobs_sweep().lines()


def _sweep_forever(stop: threading.Event) -> None:
    # Runs in the worker's main process, beside the pool, so it sweeps even while this
    # worker's only pool process is busy training.
    while not stop.wait(settings.JOB_SWEEP_INTERVAL_S):
        try:
            job_services.jobs_sweep()
        except Exception:  # noqa: BLE001 - a failed sweep is retried at the next interval
            logger.exception("periodic sweep failed")
        finally:
            close_old_connections()


@worker_ready.connect
def sweep_at_worker_start(**_kwargs) -> None:
    """A worker that starts after a crash settles what the dead worker left running, and sends
    again what waits unsent; then it keeps sweeping."""
    try:
        job_services.jobs_sweep()
    except Exception:  # noqa: BLE001 - the periodic sweep below tries again
        logger.exception("sweep at worker start failed")
    finally:
        close_old_connections()
    threading.Thread(target=_sweep_forever, args=(threading.Event(),), name="job-sweep", daemon=True).start()
