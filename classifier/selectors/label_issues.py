"""Reads for labels worth a second look: what a checkpoint trained on, the latest scores, the suspects."""

from __future__ import annotations

from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.shortcuts import get_object_or_404

from classifier.models import Checkpoint, JobStatus, LabelIssueJob, LabelScore, Photo


def checkpoint_lineage(checkpoint: Checkpoint) -> list[Checkpoint]:
    """The checkpoint, its run's parent checkpoint, that one's parent, ... (a fine-tune's line)."""
    line, seen = [], set()
    while checkpoint is not None and checkpoint.pk not in seen:
        line.append(checkpoint)
        seen.add(checkpoint.pk)
        checkpoint = checkpoint.run.parent_checkpoint
    return line


def checkpoint_trained_on(checkpoint: Checkpoint) -> set[int]:
    """Every photo the checkpoint learnt from, itself or through the checkpoints it was fine-tuned
    from: the photos frozen in each run's snapshot along its line."""
    ids: set[int] = set()
    for ancestor in checkpoint_lineage(checkpoint):
        ids.update(photo_id for photo_id, _label in (ancestor.run.photo_snapshot or []))
    return ids


def label_issue_job_get(*, job_id: int) -> LabelIssueJob:
    return get_object_or_404(LabelIssueJob.objects.select_related(
        "checkpoint__run", "base_checkpoint__run", "requested_by", "cancelled_by"), pk=job_id)


def label_issue_job_latest() -> LabelIssueJob | None:
    """The latest succeeded job: the one whose scores the gallery shows."""
    return (LabelIssueJob.objects.filter(status=JobStatus.SUCCEEDED)
            .order_by(F("finished_at").desc(nulls_last=True), "-pk").first())


def label_issue_job_for_gallery() -> LabelIssueJob | None:
    """An active job (its progress), else the latest one."""
    return (LabelIssueJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("created_at").first()
            or LabelIssueJob.objects.order_by("-created_at", "-pk").first())


def photos_with_suspicion(photos: QuerySet[Photo], job: LabelIssueJob | None) -> QuerySet[Photo]:
    """Annotate each photo with the job's score and suspected class (None where it was not
    scored) and `suspect_open`: flagged, with the label it had then, and not relabelled or
    confirmed since (a confirmation is a correction, so it moves labelled_at past the job)."""
    if job is None:
        return photos.annotate(suspect_score=_none(FloatField()), suspect_class=_none(IntegerField()),
                               suspect_open=Value(False, output_field=BooleanField()))
    score = LabelScore.objects.filter(job=job, photo=OuterRef("pk"))
    return photos.annotate(
        suspect_score=Subquery(score.values("score")[:1]), suspect_class=Subquery(score.values("suspected")[:1]),
        suspect_open=ExpressionWrapper(Q(Exists(score.filter(is_issue=True, label=OuterRef("label"))))
                                       & Q(labelled_at__lte=job.started_at), output_field=BooleanField()),
    )


def suspects_filter(job: LabelIssueJob | None) -> Q:
    """Photos flagged by the job that still wait for a second look (after photos_with_suspicion)."""
    return Q(suspect_open=True) if job is not None else Q(pk__in=[])


def _none(field):
    return Value(None, output_field=field)


def label_suspects(*, job: LabelIssueJob) -> list[LabelScore]:
    """The job's flagged photos still waiting for a second look, most suspect first."""
    return list(LabelScore.objects.filter(job=job, is_issue=True, photo__label=F("label"),
                                          photo__labelled_at__lte=job.started_at)
                .select_related("photo").order_by("-score", "photo_id"))


def photo_suspicion(*, photo: Photo) -> LabelScore | None:
    """The latest job's score of this photo, if it flagged it and the label is still the one it doubted."""
    job = label_issue_job_latest()
    if job is None:
        return None
    score = LabelScore.objects.filter(job=job, photo=photo).first()
    if score is None:
        return None
    score.open = bool(score.is_issue and photo.label == score.label and photo.labelled_at is not None
                      and photo.labelled_at <= job.started_at)
    return score
