"""One wrapper gives every task the job life cycle: claim, run the body, and leave the job
succeeded, failed (with a reason people can read), or cancelled; never running.

A task is then a few lines (worker.tasks): the body gets the claimed job and returns the
fields to store with its success. `manage.py evaluate` runs a body in its own process
through run_job, exactly as a worker would.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TypeVar

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction

from classifier.models import Job
from classifier.services import jobs as job_services
from dataset.fashion_mnist import DatasetNotFound
from engine.budget import BudgetTooSmall
from engine.checkpoints import CheckpointRefused
from engine.config import ConfigError
from engine.hardware import DeviceUnavailable

logger = logging.getLogger(__name__)

J = TypeVar("J", bound=Job)
Body = Callable[[J], "dict | None"]

# Failures whose message is already written for the job's page: shown as they are.
EXPLAINED = (job_services.JobRefused, BudgetTooSmall, CheckpointRefused, ConfigError, DatasetNotFound,
             DeviceUnavailable)


def run_job(model: type[J], job_id: int, body: Body, *, worker_host: str | None = None,
            after_success: Callable[[J], None] | None = None) -> J | None:
    """Claim the job and run body(job). Returns the job as it ended, or None if it was not
    queued (finished, cancelled, or another worker has it: a repeated message)."""
    job = job_services.job_claim(model=model, job_id=job_id, worker_host=worker_host or job_services.this_host())
    if job is None:
        logger.info("%s %s: not queued any more; nothing to do", model.kind, job_id)
        return None
    try:
        fields = body(job) or {}
    except job_services.JobCancelled:
        job_services.job_mark_cancelled(job=job)
        logger.info("%s %s cancelled", model.kind, job_id)
    except job_services.JobLost as exc:
        logger.warning("%s %s: %s; stopping", model.kind, job_id, exc)
    except SoftTimeLimitExceeded:
        job_services.job_fail(job=job, error=f"Stopped at the time limit of {settings.RUN_TIME_LIMIT_S} s.")
    except EXPLAINED as exc:
        logger.warning("%s %s refused: %s", model.kind, job_id, exc)
        job_services.job_fail(job=job, error=str(exc), detail=traceback.format_exc())
    except Exception as exc:  # noqa: BLE001 - any failure must end up on the job, with its reason
        logger.exception("%s %s failed", model.kind, job_id)
        job_services.job_fail(job=job, error=f"Unexpected error on the worker: {type(exc).__name__}: {exc}",
                              detail=traceback.format_exc())
    else:
        # The success and what it starts (a run's automatic reports) commit together: a page
        # that saw the run succeed with no report yet would stop watching for one.
        with transaction.atomic():
            if job_services.job_succeed(job=job, **fields) and after_success is not None:
                job.refresh_from_db()
                try:
                    with transaction.atomic():  # its own savepoint: the job stays succeeded if it fails
                        after_success(job)
                except Exception:  # noqa: BLE001 - what follows can be asked for again from the pages
                    logger.exception("%s %s succeeded, but what follows its success failed", model.kind, job_id)
    return model.objects.filter(pk=job_id).first()


def job_task(model: type[J], *, after_success: Callable[[J], None] | None = None):
    """Make body(job) the Celery task of this kind of job, under the model's task name (the
    name the web sends)."""
    def decorator(body: Body):
        @shared_task(name=model.task_name)
        def task(job_id: int) -> None:
            run_job(model, job_id, body, after_success=after_success)

        task.__doc__ = body.__doc__
        return task

    return decorator
