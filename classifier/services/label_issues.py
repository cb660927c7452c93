"""Everything that changes a label issue job or its scores, whoever asks: the gallery (staff),
`manage.py label_issues`, a worker. The scoring runs on a worker, or in the command's process,
through worker.label_issues_job; its life cycle is every job's (classifier.services.jobs)."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from classifier.models import DEFAULT_FOLDS, Checkpoint, JobStatus, LabelIssueJob, LabelScore
from classifier.selectors.photos import checkpoint_for_prediction
from classifier.services.jobs import job_enqueue, job_heartbeat

logger = logging.getLogger(__name__)

MAX_FOLDS = 20


def label_issues_find(*, user: AbstractBaseUser | None, checkpoint: Checkpoint | None = None,
                      folds: int = DEFAULT_FOLDS, enqueue: bool = True) -> LabelIssueJob:
    """Queue a job that scores every labelled photo for how likely its label is wrong, as seen by
    `checkpoint` (default: the model that predicts the photos). Staff only when a person asks
    (None: the shell). With enqueue=False the caller runs it (the command, in its own process)."""
    if user is not None and not user.is_staff:
        raise PermissionDenied("only staff can look for mislabelled photos")
    if not (folds == 0 or 2 <= folds <= MAX_FOLDS):
        raise ValidationError(f"folds must be 0 (the base model scores the photos the model trained on) "
                              f"or 2 to {MAX_FOLDS}, not {folds}")
    checkpoint = checkpoint or checkpoint_for_prediction()
    if checkpoint is None:
        raise ValidationError("no trained model yet: a run must succeed before photos can be scored")
    if checkpoint.run.status != JobStatus.SUCCEEDED:
        raise ValidationError(f"checkpoint #{checkpoint.pk} is not of a succeeded run")
    job = LabelIssueJob.objects.create(checkpoint=checkpoint, folds=folds, requested_by=user)
    if enqueue:
        job_enqueue(job=job)
    logger.info("label issue job %s queued by %s: checkpoint %s, %d folds", job.pk, user, checkpoint.pk, folds)
    return job


def label_issue_job_progress(*, job: LabelIssueJob, progress: float, total: int | None = None) -> None:
    """A heartbeat with progress (and, once known, how many photos)."""
    fields = {"total": total} if total is not None else {}
    job_heartbeat(job=job, progress=progress, **fields)


def label_issue_job_record(*, job: LabelIssueJob, scores: list[dict]) -> None:
    """Store the job's scores, one dict per photo (photo_id, label, suspected, score,
    label_probability, is_issue, scored_by), replacing any an earlier attempt left."""
    with transaction.atomic():
        job_heartbeat(job=job, progress=0.99)
        LabelScore.objects.filter(job=job).delete()
        LabelScore.objects.bulk_create([LabelScore(job=job, **row) for row in scores], batch_size=500)
