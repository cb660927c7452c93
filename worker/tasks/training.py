"""Training tasks: thin adapters from a run's primary key to the training job, plus the sweep
that fails runs whose worker died."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import close_old_connections

from classifier.models import ReportOrigin
from classifier.selectors.photos import PHOTOS_EVAL_SET, photos_held_out_labelled_exist
from classifier.selectors.runs import run_best_checkpoint
from classifier.services import evaluation as evaluation_services
from classifier.services import photos as photo_services
from classifier.services import training as training_services
from dataset.eval_sets import FMNIST_TEST

logger = logging.getLogger(__name__)


def worker_identity() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


@shared_task(name="worker.tasks.train_run")
def train_run(run_id: int) -> None:
    """Claim the run, train it, and leave it succeeded, failed or cancelled, never running."""
    run = training_services.training_run_claim(run_id=run_id, worker_host=worker_identity())
    if run is None:
        logger.info("run %s: not queued any more (cancelled, or another worker has it)", run_id)
        return
    from worker.training_job import train_and_record  # torch: workers only

    try:
        train_and_record(run)
    except training_services.RunCancelRequested:
        training_services.training_run_mark_cancelled(run_id=run_id)
        logger.info("run %s cancelled", run_id)
    except training_services.RunLost as exc:
        logger.warning("run %s: %s; stopping", run_id, exc)
    except SoftTimeLimitExceeded:
        training_services.training_run_fail(
            run_id=run_id, error=f"Stopped at the time limit of {settings.RUN_TIME_LIMIT_S} s."
        )
    except Exception as exc:  # noqa: BLE001 - any failure must end up on the run, with its reason
        logger.exception("run %s failed", run_id)
        training_services.training_run_fail(
            run_id=run_id, error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        )
    else:
        if training_services.training_run_succeed(run_id=run_id):
            _after_success(run)


def _after_success(run) -> None:
    """Queue what a new model is measured by: its best checkpoint's reports on the test set and
    on the held-out photos (its two-domain scorecard), and its second opinion on the photos.
    The run stays succeeded if any of this fails: each can be asked for again from the pages."""
    checkpoint = run_best_checkpoint(run=run)
    if checkpoint is None:
        return
    datasets = [FMNIST_TEST] + ([PHOTOS_EVAL_SET] if photos_held_out_labelled_exist() else [])
    for dataset_name in datasets:
        try:
            evaluation_services.evaluation_report_create(
                checkpoint=checkpoint, dataset_name=dataset_name, requested_by=None, origin=ReportOrigin.TRAINING
            )
        except Exception:  # noqa: BLE001
            logger.exception("run %s: could not queue its %s evaluation", run.pk, dataset_name)
    try:
        photo_services.photos_predict_candidate(checkpoint=checkpoint)
    except Exception:  # noqa: BLE001
        logger.exception("run %s: could not queue its second opinion on the photos", run.pk)


def sweep_stale_jobs() -> dict[str, list[int]]:
    """Fail the runs, reports and prediction jobs whose worker went silent."""
    return {"runs": training_services.training_runs_sweep(),
            "reports": evaluation_services.evaluation_reports_sweep(),
            "prediction_jobs": photo_services.prediction_jobs_sweep()}


@shared_task(name="worker.tasks.sweep_runs")
def sweep_runs() -> dict[str, list[int]]:
    return sweep_stale_jobs()


def _sweep_forever(stop: threading.Event) -> None:
    # Runs in the worker's main process, beside the pool, so it sweeps even while this
    # worker's only child is busy training.
    while not stop.wait(settings.RUN_SWEEP_INTERVAL_S):
        try:
            sweep_stale_jobs()
        except Exception:  # noqa: BLE001 - a failed sweep is retried at the next interval
            logger.exception("periodic sweep failed")
        finally:
            close_old_connections()


@worker_process_init.connect
def import_engine_early(**_kwargs) -> None:
    """Pay for importing torch when a pool process starts, not when its first run arrives."""
    import worker.engine  # noqa: F401
    import worker.evaluation  # noqa: F401


@worker_ready.connect
def sweep_at_worker_start(**_kwargs) -> None:
    """A worker that starts after a crash fails the runs, reports and prediction jobs the dead worker left running."""
    failed = sweep_stale_jobs()
    if any(failed.values()):
        logger.warning("jobs left running by a dead worker marked failed: %s", failed)
    close_old_connections()
    threading.Thread(target=_sweep_forever, args=(threading.Event(),), name="run-sweep",
                     daemon=True).start()
