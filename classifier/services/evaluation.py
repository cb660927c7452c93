"""Everything that changes an evaluation report, whoever asks: the run page, the admin, the
training task (after a run succeeds), `manage.py evaluate`. The scoring itself runs on a
worker, or in the command's process, through worker.evaluation_job; its life cycle is every
job's (classifier.services.jobs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from classifier.models import DATASET_LABELS, Checkpoint, EvaluationReport, Predictions, ReportOrigin
from classifier.models.reports import predictions_pack
from classifier.selectors.photos import PHOTOS_EVAL_SET, photos_eval_set
from classifier.services.jobs import JobRefused, job_alive, job_enqueue
from dataset.eval_sets import FMNIST_TEST, EvalSet, fmnist_test_set
from dataset.fashion_mnist import DatasetNotFound
from dataset.photo_sets import load_labelled_set, parse_set_name
from engine.results import EvaluationResult

logger = logging.getLogger(__name__)


class EvaluationError(JobRefused):
    """A report cannot be scored; the message says why, in words for the report page."""


class UnknownDataset(EvaluationError):
    pass


def evaluation_dataset_resolve(name: str, *, on_progress: Callable[[int, int], None] | None = None) -> EvalSet:
    """The one place a report's dataset name becomes images and labels: "fmnist-test", "photos"
    (the held-out labelled photos in the database), or the path of a folder of class folders or
    a CSV manifest (an outside set, preprocessed exactly as uploads are, file by file:
    on_progress(done, total) after each)."""
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
            eval_set = load_labelled_set(name, skipped=skipped, on_progress=on_progress)
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


def evaluation_report_create(*, checkpoint: Checkpoint, dataset_name: str = FMNIST_TEST,
                             requested_by: AbstractBaseUser | None, origin: str = ReportOrigin.PAGE,
                             enqueue: bool = True, allow_paths: bool = False) -> EvaluationReport:
    """Record a queued report and send it to a worker once the transaction commits.

    Staff only when a person asks; requested_by=None is the system (after training, or the
    command). A report of the same checkpoint and dataset that will be scored anyway (queued or
    running, and not stale) is returned instead of queueing a second one. enqueue=False: the caller runs it in-process.
    allow_paths: a folder or manifest on the server's disk may be named (the shell only, never a
    page: a web form must not read arbitrary paths)."""
    if requested_by is not None and not requested_by.is_staff:
        raise PermissionDenied("only staff can evaluate checkpoints")
    _check_dataset_name(dataset_name, allow_paths=allow_paths)
    if enqueue:
        pending = job_alive(EvaluationReport.objects.filter(checkpoint=checkpoint, dataset_name=dataset_name))
        if pending is not None:
            return pending
    report = EvaluationReport.objects.create(
        checkpoint=checkpoint, run_id=checkpoint.run_id, checkpoint_epoch=checkpoint.epoch,
        checkpoint_sha256=checkpoint.sha256, dataset_name=dataset_name, requested_by=requested_by,
        origin=origin,
    )
    if enqueue:
        job_enqueue(job=report)
    logger.info("report %s queued for checkpoint %s on %s by %s", report.pk, checkpoint.pk, dataset_name,
                requested_by)
    return report


def evaluation_result_fields(result: EvaluationResult) -> dict:
    """A report's stored figures and per-sample predictions, stored with its success."""
    summary = result.summary
    sample_keys = None if result.sample_keys == [str(i) for i in range(summary.n)] else result.sample_keys
    predictions = Predictions(labels=summary.labels, predicted=summary.predicted, top_classes=summary.top_classes,
                              top_probs=summary.top_probs, true_probs=summary.true_probs)
    return dict(
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


__all__ = [
    "EvaluationError", "UnknownDataset", "evaluation_dataset_resolve", "evaluation_report_create",
    "evaluation_result_fields",
]
