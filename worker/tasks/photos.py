"""Photo tasks: a thin adapter from a prediction job's primary key to the batch prediction."""

from __future__ import annotations

import logging
import traceback

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from classifier.services import photos as photo_services
from worker.tasks.training import worker_identity

logger = logging.getLogger(__name__)


@shared_task(name="worker.tasks.predict_photos")
def predict_photos(job_id: int) -> None:
    """Claim the job, predict its photos, and leave it succeeded or failed, never running."""
    job = photo_services.prediction_job_claim(job_id=job_id, worker_host=worker_identity())
    if job is None:
        logger.info("prediction job %s: not queued any more", job_id)
        return
    from worker.prediction_job import predict_and_record  # torch: workers only

    try:
        predict_and_record(job)
    except photo_services.PredictionJobLost as exc:
        logger.warning("prediction job %s: %s; stopping", job_id, exc)
    except SoftTimeLimitExceeded:
        photo_services.prediction_job_fail(job_id=job_id, error="Stopped at the time limit.")
    except Exception as exc:  # noqa: BLE001 - any failure must end up on the job, with its reason
        logger.exception("prediction job %s failed", job_id)
        photo_services.prediction_job_fail(
            job_id=job_id, error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
    else:
        photo_services.prediction_job_succeed(job_id=job_id)
