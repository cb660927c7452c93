"""Everything that changes an evaluation report, whoever asks: the run page, the admin, the
training task (after a run succeeds), `manage.py evaluate`.

`evaluation_report_run` is the one code path that scores a report; the Celery task and the
command (in-process) both call it. It imports the engine (torch) inside the function, so the
web process can import this module to create and enqueue reports.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from classifier.models import (
    DATASET_LABELS, Checkpoint, EvaluationReport, Predictions, ReportOrigin, RunStatus,
)
from classifier.models.reports import predictions_pack
from classifier.selectors.photos import PHOTOS_EVAL_SET, photos_eval_set
from dataset.eval_sets import FMNIST_TEST, EvalSet, fmnist_test_set
from dataset.fashion_mnist import DatasetNotFound
from dataset.photo_sets import load_labelled_set, parse_set_name

if TYPE_CHECKING:
    from worker.evaluation import EvaluationResult

logger = logging.getLogger(__name__)


class EvaluationError(Exception):
    """A report cannot be scored; the message says why, in words for the report page."""


class UnknownDataset(EvaluationError):
    pass


class ReportLost(Exception):
    """This process no longer owns the report (the sweep failed it, or it was deleted)."""


def evaluation_dataset_resolve(name: str) -> EvalSet:
    """The one place a report's dataset name becomes images and labels: "fmnist-test", "photos"
    (the held-out labelled photos in the database), or the path of a folder of class folders or
    a CSV manifest (an outside set, preprocessed exactly as uploads are)."""
    if name == FMNIST_TEST:
        try:
            return fmnist_test_set()
        except DatasetNotFound as exc:
            raise EvaluationError(str(exc)) from None
    if name == PHOTOS_EVAL_SET:
        eval_set = photos_eval_set()
        if not len(eval_set):
            raise EvaluationError("There are no held-out labelled photos yet: label some photos first "
                                  "(about 30 % of them are held out, by a hash of the photo).")
        return eval_set
    if is_path_dataset(name):
        skipped: list = []
        try:
            eval_set = load_labelled_set(name, skipped=skipped)
        except ValueError as exc:
            raise EvaluationError(f"{name}: {exc}") from None
        if not len(eval_set):
            raise EvaluationError(f"No labelled photo could be read from {name} ({len(skipped)} skipped).")
        return eval_set
    raise UnknownDataset(f"unknown dataset {name!r}; known: {', '.join(DATASET_LABELS)}, or a folder or .csv path")


def is_path_dataset(name: str) -> bool:
    path, _ = parse_set_name(name)
    return path.is_absolute() and (path.is_dir() or (path.is_file() and path.suffix.lower() == ".csv"))


def _check_dataset_name(name: str, *, allow_paths: bool = False) -> None:
    if name in DATASET_LABELS or (allow_paths and is_path_dataset(name)):
        return
    raise UnknownDataset(f"unknown dataset {name!r}; known: {', '.join(DATASET_LABELS)}"
                         + (", or the absolute path of a folder or .csv manifest" if allow_paths else ""))


def _enqueue_evaluation(report_id: int) -> None:
    from worker.tasks.evaluation import evaluate_report

    evaluate_report.delay(report_id)


def evaluation_report_create(*, checkpoint: Checkpoint, dataset_name: str = FMNIST_TEST,
                             requested_by: AbstractBaseUser | None, origin: str = ReportOrigin.PAGE,
                             enqueue: bool = True, allow_paths: bool = False) -> EvaluationReport:
    """Record a queued report and send it to a worker once the transaction commits.

    Staff only when a person asks; requested_by=None is the system (after training, or the
    command). A report of the same checkpoint and dataset that is still queued or running is
    returned instead of queueing a second one. enqueue=False: the caller runs it in-process.
    allow_paths: a folder or manifest on the server's disk may be named (the shell only, never a
    page: a web form must not read arbitrary paths)."""
    if requested_by is not None and not requested_by.is_staff:
        raise PermissionDenied("only staff can evaluate checkpoints")
    _check_dataset_name(dataset_name, allow_paths=allow_paths)
    if enqueue:
        pending = EvaluationReport.objects.filter(
            checkpoint=checkpoint, dataset_name=dataset_name, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
        ).first()
        if pending is not None:
            return pending
    report = EvaluationReport.objects.create(
        checkpoint=checkpoint, run_id=checkpoint.run_id, checkpoint_epoch=checkpoint.epoch,
        checkpoint_sha256=checkpoint.sha256, dataset_name=dataset_name, requested_by=requested_by,
        origin=origin,
    )
    if enqueue:
        transaction.on_commit(lambda: _enqueue_evaluation(report.pk))
    logger.info("report %s queued for checkpoint %s on %s by %s", report.pk, checkpoint.pk, dataset_name,
                requested_by)
    return report


def evaluation_report_claim(*, report_id: int, worker_host: str) -> EvaluationReport | None:
    """Take a queued report. None if it is gone or someone else has it."""
    now = timezone.now()
    claimed = EvaluationReport.objects.filter(pk=report_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker_host=worker_host,
    )
    if not claimed:
        return None
    return EvaluationReport.objects.select_related("checkpoint").get(pk=report_id)


def evaluation_report_heartbeat(*, report_id: int, progress: float) -> None:
    if not EvaluationReport.objects.filter(pk=report_id, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now(), progress=progress
    ):
        raise ReportLost(f"report {report_id} is no longer running here")


def evaluation_report_fail(*, report_id: int, error: str) -> bool:
    return bool(
        EvaluationReport.objects.filter(pk=report_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        )
    )


def _checkpoint_path(report: EvaluationReport) -> Path:
    if report.checkpoint is None:
        raise EvaluationError(
            f"Checkpoint epoch {report.checkpoint_epoch} of run #{report.run_id} was deleted "
            "(training keeps only the best and the last)."
        )
    path = Path(report.checkpoint.file.path)
    if not path.is_file():
        raise EvaluationError(f"The checkpoint file is missing: {path}")
    return path


def evaluation_report_record_result(*, report_id: int, result: "EvaluationResult") -> None:
    """Store a running report's figures and per-sample predictions, and mark it succeeded."""
    summary = result.summary
    sample_keys = None if result.sample_keys == [str(i) for i in range(summary.n)] else result.sample_keys
    predictions = Predictions(labels=summary.labels, predicted=summary.predicted, top_classes=summary.top_classes,
                              top_probs=summary.top_probs, true_probs=summary.true_probs)
    stored = EvaluationReport.objects.filter(pk=report_id, status=RunStatus.RUNNING).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), heartbeat_at=timezone.now(), progress=1.0,
        dataset_fingerprint=result.dataset_fingerprint, n_samples=summary.n,
        device=result.device, precision=result.precision, seconds=result.seconds,
        accuracy=summary.accuracy, loss=summary.loss,
        metrics={
            "class_names": result.class_names,
            "per_class": summary.per_class,
            "macro": summary.macro,
            "calibration": summary.calibration,
        },
        confusion_matrix=summary.confusion_matrix.tolist(),
        predictions=predictions_pack(predictions), sample_keys=sample_keys,
    )
    if not stored:
        raise ReportLost(f"report {report_id} stopped running before its result was stored")


class _Progress:
    """Heartbeats at most once per RUN_HEARTBEAT_S, and the caller's own progress each batch."""

    def __init__(self, report_id: int, forward: Callable[[int, int], None] | None) -> None:
        self.report_id, self.forward, self.last = report_id, forward, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= settings.RUN_HEARTBEAT_S or done == total:
            self.last = now
            evaluation_report_heartbeat(report_id=self.report_id, progress=done / total if total else 1.0)
        if self.forward is not None:
            self.forward(done, total)


def _this_host() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def evaluation_report_run(*, report_id: int, worker_host: str | None = None, device: str = "auto",
                          on_progress: Callable[[int, int], None] | None = None) -> EvaluationReport | None:
    """Claim a queued report, score its checkpoint, store the figures. One code path for the task
    and `manage.py evaluate`.

    Returns the report, succeeded or failed with its reason; None if it was not queued (another
    worker has it, or it is gone). A checkpoint file that is missing or whose sha256 differs
    from the one recorded is refused."""
    report = evaluation_report_claim(report_id=report_id, worker_host=worker_host or _this_host())
    if report is None:
        logger.info("report %s: not queued any more", report_id)
        return None
    try:
        path = _checkpoint_path(report)
        eval_set = evaluation_dataset_resolve(report.dataset_name)
        from worker.evaluation import CheckpointRefused, evaluate_checkpoint  # torch: workers and the command

        try:
            result = evaluate_checkpoint(path, eval_set, expected_sha256=report.checkpoint_sha256, device=device,
                                         on_progress=_Progress(report.pk, on_progress))
        except CheckpointRefused as exc:
            raise EvaluationError(str(exc)) from None
        evaluation_report_record_result(report_id=report.pk, result=result)
    except ReportLost as exc:
        logger.warning("report %s: %s", report_id, exc)
    except EvaluationError as exc:
        logger.warning("report %s refused: %s", report_id, exc)
        evaluation_report_fail(report_id=report_id, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure must end up on the report, with its reason
        logger.exception("report %s failed", report_id)
        evaluation_report_fail(
            report_id=report_id, error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        )
    else:
        logger.info("report %s: accuracy %.4f on %s images", report_id, result.summary.accuracy, result.summary.n)
    return EvaluationReport.objects.filter(pk=report_id).first()


def evaluation_reports_sweep(*, stale_after_s: int | None = None) -> list[int]:
    """Fail every running report whose worker has gone quiet. Returns the ids it failed."""
    stale_after = timedelta(seconds=settings.RUN_STALE_AFTER_S if stale_after_s is None else stale_after_s)
    cutoff = timezone.now() - stale_after
    failed = []
    for report in EvaluationReport.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).only(
        "pk", "heartbeat_at", "worker_host"
    ):
        error = (
            f"The worker stopped responding: no heartbeat since {report.heartbeat_at:%Y-%m-%d %H:%M:%S %Z} "
            f"(worker {report.worker_host or 'unknown'}). It was probably killed or lost its machine."
        )
        if EvaluationReport.objects.filter(pk=report.pk, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=RunStatus.FAILED, finished_at=timezone.now(), error=error
        ):
            failed.append(report.pk)
            logger.warning("report %s marked failed: %s", report.pk, error)
    return failed


__all__ = [
    "EvaluationError", "ReportLost", "UnknownDataset", "evaluation_dataset_resolve", "evaluation_report_claim",
    "evaluation_report_create", "evaluation_report_fail", "evaluation_report_heartbeat",
    "evaluation_report_record_result", "evaluation_report_run", "evaluation_reports_sweep",
]
