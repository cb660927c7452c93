"""Reads for the photo pages, prediction jobs and evaluation reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import F, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse

from classifier.models import (
    Checkpoint, JobStatus, LabelCorrection, Photo, PredictionJob, RunStatus, model_input_array,
)
from dataset.classes import NUM_CLASSES
from dataset.eval_sets import EvalSet, fingerprint_of

PHOTOS_EVAL_SET = "photos"

SHOW_CHOICES = {
    "all": "All",
    "unlabelled": "Unlabelled",
    "labelled": "Labelled",
    "wrong": "Wrong predictions",
}
# The default puts the photos the model is least sure of first: they are the ones to review.
ORDER_CHOICES = {
    "confidence": "Least confident first",
    "-confidence": "Most confident first",
    "-created": "Newest first",
    "created": "Oldest first",
}
_ORDERINGS = {
    "confidence": [F("confidence").asc(nulls_last=True), "-pk"],
    "-confidence": [F("confidence").desc(nulls_last=True), "-pk"],
    "-created": ["-created_at", "-pk"],
    "created": ["created_at", "pk"],
}


def checkpoint_for_prediction() -> Checkpoint | None:
    """The checkpoint that predicts new photos: the best of the most recent succeeded run.

    (Until the team can choose an "active model", the newest good run is the best guess.)"""
    return (
        Checkpoint.objects.filter(run__status=RunStatus.SUCCEEDED)
        .select_related("run")
        .order_by(F("run__finished_at").desc(nulls_last=True), "-run_id", "-val_acc", "epoch")
        .first()
    )


def checkpoints_for_choice() -> QuerySet[Checkpoint]:
    """Checkpoints staff may predict with, newest run first."""
    return Checkpoint.objects.filter(run__status=RunStatus.SUCCEEDED).select_related("run").order_by(
        "-run_id", "-epoch")


@dataclass(frozen=True)
class GalleryFilters:
    show: str = "all"
    label: int | None = None  # the true (human) label
    predicted: int | None = None
    order: str = "confidence"

    @classmethod
    def from_query(cls, query) -> "GalleryFilters":
        """From a request's GET parameters; anything unknown falls back to the default."""
        def class_or_none(name: str) -> int | None:
            value = query.get(name, "")
            return int(value) if value.isdigit() and int(value) < NUM_CLASSES else None

        show = query.get("show", "all")
        order = query.get("order", "confidence")
        return cls(show=show if show in SHOW_CHOICES else "all", label=class_or_none("label"),
                   predicted=class_or_none("predicted"), order=order if order in ORDER_CHOICES else "confidence")

    def as_query(self) -> dict[str, str]:
        query = {"show": self.show, "order": self.order}
        if self.label is not None:
            query["label"] = str(self.label)
        if self.predicted is not None:
            query["predicted"] = str(self.predicted)
        return query


def photos_for_gallery(*, filters: GalleryFilters = GalleryFilters()) -> QuerySet[Photo]:
    photos = Photo.objects.select_related("labelled_by").defer("probabilities")
    if filters.show == "unlabelled":
        photos = photos.filter(label__isnull=True)
    elif filters.show == "labelled":
        photos = photos.filter(label__isnull=False)
    elif filters.show == "wrong":
        photos = photos.filter(label__isnull=False, predicted_label__isnull=False).exclude(
            label=F("predicted_label"))
    if filters.label is not None:
        photos = photos.filter(label=filters.label)
    if filters.predicted is not None:
        photos = photos.filter(predicted_label=filters.predicted)
    return photos.order_by(*_ORDERINGS[filters.order])


def photo_get(*, photo_id: int) -> Photo:
    return get_object_or_404(Photo.objects.select_related("uploaded_by", "labelled_by", "predicted_by__run"),
                             pk=photo_id)


def correction_get(*, correction_id: int) -> LabelCorrection:
    return get_object_or_404(LabelCorrection.objects.select_related("photo"), pk=correction_id)


def photo_history(*, photo: Photo) -> list[LabelCorrection]:
    """The photo's corrections, newest first, each knowing what it reverts and what reverted it."""
    return list(
        photo.corrections.select_related("user", "reverts", "reverted_by").order_by("-created_at", "-pk")
    )


def prediction_job_for_gallery() -> PredictionJob | None:
    """The job the gallery shows: an active one (oldest first), else the latest."""
    active = PredictionJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).select_related(
        "checkpoint")
    return active.order_by("created_at", "pk").first() or (
        PredictionJob.objects.select_related("checkpoint").order_by("-created_at", "-pk").first())


def photos_eval_set() -> EvalSet:
    """The labelled photos as an evaluation dataset: their stored 28x28 images (made at upload,
    exactly what the model sees), their human labels, keyed by photo id."""
    rows = list(Photo.objects.filter(label__isnull=False).order_by("pk").values_list("pk", "model_input", "label"))
    images = (np.stack([model_input_array(data) for _, data, _ in rows])
              if rows else np.zeros((0, 28, 28), dtype=np.uint8))
    labels = np.asarray([label for *_, label in rows], dtype=np.int64)
    return EvalSet(name=PHOTOS_EVAL_SET, images=images, labels=labels,
                   fingerprint=fingerprint_of(images, labels), sample_keys=[str(pk) for pk, *_ in rows])


def photo_sample_image_url(sample_key: str) -> str:
    """For a report on the "photos" set: the URL of what the model saw for sample ``photo id``."""
    return reverse("photo_model_input", args=[int(sample_key)])


def photo_sample_page_url(sample_key: str) -> str:
    return reverse("photo_detail", args=[int(sample_key)])
