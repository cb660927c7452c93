"""The Celery tasks: one per kind of job, each a few lines, given the job life cycle by
worker.jobs.job_task. The web sends them by name (the models' task_name) and never imports
this module.

The engine (torch) is imported here, at module level, on purpose: the worker's main process
imports this module before it starts its pool, so pool processes fork with torch already
loaded and start in well under Celery's start-up deadline."""

from __future__ import annotations

import base64
import logging
import threading

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import close_old_connections

from classifier.models import Checkpoint, EvaluationReport, LabelIssueJob, PredictionJob, PreparationJob, TrainingRun
from classifier.services import jobs as job_services
from engine.checkpoints import CheckpointRefused
from worker import evaluation_job, export_job, label_issues_job, prediction_job, preparation_job, training_job, webhooks
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


@job_task(PreparationJob)
def prepare_photos(job: PreparationJob) -> dict:
    """Make what the model sees of every photo still preparing; then queue their prediction."""
    return preparation_job.prepare_and_record(job)


@job_task(LabelIssueJob)
def find_label_issues(job: LabelIssueJob) -> dict:
    """Score every labelled photo for how likely its label is wrong."""
    return label_issues_job.find_and_record(job)


@shared_task(name="worker.tasks.predict_image", ignore_result=False, acks_late=False,
             soft_time_limit=settings.API_PREDICT_TIMEOUT_S, time_limit=settings.API_PREDICT_TIMEOUT_S + 30)
def predict_image(checkpoint_id: int, model_input_b64: str) -> dict:
    """One image for the API, answered while its caller waits: not a job (nothing is recorded;
    the caller gives up after API_PREDICT_TIMEOUT_S), so it keeps a result and is not acked late
    (a worker that died mid-answer leaves a caller who has gone already)."""
    try:
        return {"probabilities": prediction_job.predict_one(checkpoint_id, base64.b64decode(model_input_b64))}
    except CheckpointRefused as exc:
        return {"error": str(exc)}
    finally:
        close_old_connections()


@shared_task(name="worker.tasks.export_checkpoint", ignore_result=False, acks_late=False,
             soft_time_limit=settings.EXPORT_TIMEOUT_S, time_limit=settings.EXPORT_TIMEOUT_S + 30)
def export_checkpoint(checkpoint_id: int, storage_name: str) -> dict:
    """The checkpoint's bundle as a zip in storage, for the download its page offers (the web
    waits for it, as for predict_image)."""
    try:
        checkpoint = Checkpoint.objects.filter(pk=checkpoint_id).first()
        if checkpoint is None:
            return {"error": f"Checkpoint #{checkpoint_id} no longer exists."}
        return {"name": export_job.bundle_store(checkpoint, storage_name)}
    except CheckpointRefused as exc:
        return {"error": str(exc)}
    finally:
        close_old_connections()


@shared_task(name="worker.tasks.deliver_webhook", bind=True, acks_late=False, max_retries=None,
             soft_time_limit=120, time_limit=150)
def deliver_webhook(self, delivery_id: int) -> None:
    """One attempt at a webhook delivery; another later, with backoff, until it is answered
    2xx or WEBHOOK_MAX_ATTEMPTS are used (each attempt is recorded on the delivery)."""
    try:
        wait = webhooks.deliver(delivery_id)
    finally:
        close_old_connections()
    if wait is not None:
        raise self.retry(countdown=wait)


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
    if settings.JOB_SWEEP_INTERVAL_S > 0:  # 0: no periodic sweep (another worker or beat does it)
        threading.Thread(target=_sweep_forever, args=(threading.Event(),), name="job-sweep", daemon=True).start()
