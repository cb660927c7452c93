"""Reads for the photo pages, prediction jobs and evaluation reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Case, Count, ExpressionWrapper, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse

from classifier.models import (
    Checkpoint,
    JobStatus,
    LabelCorrection,
    Photo,
    PhotoState,
    PredictionJob,
    PreparationJob,
    Tag,
    model_input_array,
)
from classifier.selectors.label_issues import label_issue_job_latest, photos_with_suspicion, suspects_filter
from classifier.selectors.promotions import prediction_choice
from dataset.classes import NUM_CLASSES
from dataset.eval_sets import EvalSet, fingerprint_of
from dataset.photos import PREPROCESS_VERSION

PHOTOS_EVAL_SET = "photos"

SHOW_CHOICES = {
    "all": "All",
    "unlabelled": "Unlabelled",
    "labelled": "Labelled",
    "wrong": "Wrong predictions",
    "suspects": "Possibly mislabelled",
}
SPLIT_CHOICES = {
    "": "both parts",
    "train": "train part (fine-tunes learn from it)",
    "held-out": "held out (only measures)",
}
# The default puts the photos the model is least sure of first: they are the ones to review.
ORDER_CHOICES = {
    "confidence": "Least confident first",
    "useful": "Most useful to label next",
    "suspicion": "Possibly mislabelled first",
    "-confidence": "Most confident first",
    "-created": "Newest first",
    "created": "Oldest first",
}
# "Most useful to label next": unlabelled photos first, then by how unsure the active model
# is (1 - confidence) plus one when the newest checkpoint disagrees with it. A label where two
# models disagree, or where the model hesitates, teaches the next fine-tune the most.
USEFULNESS = ExpressionWrapper(
    Value(1.0) - Coalesce(F("confidence"), Value(0.0))
    + Case(When(Q(candidate_label__isnull=False, predicted_label__isnull=False)
                & ~Q(candidate_label=F("predicted_label")), then=Value(1.0)), default=Value(0.0)),
    output_field=FloatField(),
)
_ORDERINGS = {
    "useful": [F("label").asc(nulls_first=True), F("usefulness").desc(), "-pk"],
    "confidence": [F("confidence").asc(nulls_last=True), "-pk"],
    "suspicion": [F("suspect_score").desc(nulls_last=True), "-pk"],
    "-confidence": [F("confidence").desc(nulls_last=True), "-pk"],
    "-created": ["-created_at", "-pk"],
    "created": ["created_at", "pk"],
}


def checkpoint_for_prediction() -> Checkpoint | None:
    """The checkpoint that predicts new photos: the active model, or, before anyone promoted
    one, the best succeeded checkpoint by validation accuracy (promotions.prediction_choice)."""
    choice = prediction_choice()
    return choice.checkpoint if choice else None


CHECKPOINT_CHOICES = 60


def checkpoints_for_choice() -> QuerySet[Checkpoint]:
    """Checkpoints staff may predict with, newest run first: the newest 60 (a page listing every
    epoch of hundreds of runs would cost more than its photos; the admin reaches any checkpoint)."""
    return Checkpoint.objects.filter(run__status=JobStatus.SUCCEEDED).select_related("run").order_by(
        "-run_id", "-epoch")[:CHECKPOINT_CHOICES]


NO_SOURCE_QUERY = "-"  # ?source=- : the photos nobody said the source of


def _source_of(raw: str) -> str | None:
    return None if raw == "" else "" if raw == NO_SOURCE_QUERY else raw


@dataclass(frozen=True)
class GalleryFilters:
    show: str = "all"
    label: int | None = None  # the true (human) label
    predicted: int | None = None
    order: str = "confidence"
    split: str = ""
    source: str | None = None  # None: any; "" the photos whose source nobody gave (NO_SOURCE_QUERY)
    tag: str = ""
    batch: int | None = None

    @classmethod
    def from_query(cls, query) -> GalleryFilters:
        """From a request's GET parameters; anything unknown falls back to the default."""
        def class_or_none(name: str) -> int | None:
            value = query.get(name, "")
            return int(value) if value.isdigit() and int(value) < NUM_CLASSES else None

        show = query.get("show", "all")
        order = query.get("order", "confidence")
        split = query.get("split", "")
        batch = query.get("batch", "")
        return cls(show=show if show in SHOW_CHOICES else "all", label=class_or_none("label"),
                   predicted=class_or_none("predicted"), order=order if order in ORDER_CHOICES else "confidence",
                   split=split if split in SPLIT_CHOICES else "", source=_source_of(query.get("source", "")),
                   tag=query.get("tag", "").strip().lower(), batch=int(batch) if batch.isdigit() else None)

    def as_query(self) -> dict[str, str]:
        query = {"show": self.show, "order": self.order}
        if self.label is not None:
            query["label"] = str(self.label)
        if self.predicted is not None:
            query["predicted"] = str(self.predicted)
        if self.split:
            query["split"] = self.split
        if self.source is not None:
            query["source"] = self.source or NO_SOURCE_QUERY
        if self.tag:
            query["tag"] = self.tag
        if self.batch is not None:
            query["batch"] = str(self.batch)
        return query


def _gallery_cards(job) -> QuerySet[Photo]:
    # What a card shows, in one query: none of the large columns it doesn't (probabilities,
    # signature, occlusion maps), and no joins (a card names no user).
    return photos_with_suspicion(Photo.objects.defer("probabilities", "signature", "occlusion"), job)


def photos_for_gallery(*, filters: GalleryFilters = GalleryFilters()) -> QuerySet[Photo]:
    """The gallery's photos, each annotated with the latest label issue job's suspicion of it
    (suspect_score, suspect_class, suspect_open: see label_issues.photos_with_suspicion)."""
    job = label_issue_job_latest()
    photos = _gallery_cards(job)
    if filters.show == "unlabelled":
        photos = photos.filter(label__isnull=True)
    elif filters.show == "labelled":
        photos = photos.filter(label__isnull=False)
    elif filters.show == "wrong":
        photos = photos.filter(label__isnull=False, predicted_label__isnull=False).exclude(
            label=F("predicted_label"))
    elif filters.show == "suspects":
        photos = photos.filter(suspects_filter(job))
    if filters.label is not None:
        photos = photos.filter(label=filters.label)
    if filters.predicted is not None:
        photos = photos.filter(predicted_label=filters.predicted)
    if filters.split:
        photos = photos.filter(held_out=filters.split == "held-out")
    if filters.source is not None:
        photos = photos.filter(source=filters.source)
    if filters.tag:
        photos = photos.filter(tags__name=filters.tag)
    if filters.batch is not None:
        photos = photos.filter(batch_id=filters.batch)
    if filters.order == "useful":
        photos = photos.annotate(usefulness=USEFULNESS)
    return photos.order_by(*_ORDERINGS[filters.order])


def photos_changed(*, photo_ids: Iterable[int], since: datetime | None) -> list[Photo]:
    """Of these photos (the cards a gallery page shows), those whose card changed since then
    (Photo.changed_at), annotated as photos_for_gallery annotates them; all of them when `since`
    is None."""
    photos = _gallery_cards(label_issue_job_latest()).filter(pk__in=list(photo_ids))
    if since is not None:
        photos = photos.filter(changed_at__gte=since)
    return list(photos.order_by("pk"))


def photo_get(*, photo_id: int) -> Photo:
    return get_object_or_404(Photo.objects.select_related("uploaded_by", "labelled_by", "predicted_by__run",
                                                          "batch__created_by").prefetch_related("tags"),
                             pk=photo_id)


def photo_sources() -> list[tuple[str, int]]:
    """(source, photos) for the gallery's filter, most photos first; "" is the photos without one."""
    return list(Photo.objects.values_list("source").annotate(n=Count("pk")).order_by("-n", "source"))


def photos_prepared_by_older_version() -> QuerySet[Photo]:
    """The ready photos whose 28x28 images an older preprocessing made: the model sees them as
    it did then, and fine-tunes train on them so, until `manage.py preprocess_photos` remakes them."""
    return Photo.objects.filter(state=PhotoState.READY).exclude(preprocess_version=PREPROCESS_VERSION)


def photo_tag_names() -> list[str]:
    return list(Tag.objects.filter(photos__isnull=False).distinct().order_by("name").values_list("name", flat=True))


def photo_ids_existing(photo_ids: Iterable[int]) -> set[int]:
    """Which of these photos are still kept (a report names photos that may be deleted since)."""
    return set(Photo.objects.filter(pk__in=list(photo_ids)).values_list("pk", flat=True))


def photo_sources_of(photo_ids: Iterable[int]) -> dict[int, str]:
    """Each photo's source by id ("" where none was given): what scorecards group by."""
    return dict(Photo.objects.filter(pk__in=list(photo_ids)).values_list("pk", "source"))


def correction_get(*, correction_id: int) -> LabelCorrection:
    return get_object_or_404(LabelCorrection.objects.select_related("photo"), pk=correction_id)


def photo_history(*, photo: Photo) -> list[LabelCorrection]:
    """The photo's corrections, newest first, each knowing what it reverts and what reverted it."""
    return list(
        photo.corrections.select_related("user", "reverts", "reverted_by").order_by("-created_at", "-pk")
    )


def preparation_job_active() -> PreparationJob | None:
    return PreparationJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("created_at").first()


def prediction_job_for_gallery() -> PredictionJob | None:
    """The job the gallery shows: an active one (oldest first), else the latest."""
    active = PredictionJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).select_related(
        "checkpoint")
    return active.order_by("created_at", "pk").first() or (
        PredictionJob.objects.select_related("checkpoint").order_by("-created_at", "-pk").first())


def photos_training_snapshot() -> list[tuple[int, str, int]]:
    """(photo id, photo sha256, label) of every labelled photo in the train part, the held-out
    ones never: what a fine-tune with photos learns from, frozen when the run is queued."""
    return list(Photo.objects.filter(label__isnull=False, held_out=False).order_by("pk")
                .values_list("pk", "sha256", "label"))


def photos_held_out_labelled_exist() -> bool:
    return Photo.objects.filter(label__isnull=False, held_out=True).exists()


def photos_eval_set() -> EvalSet:
    """The held-out labelled photos as an evaluation dataset: their stored 28x28 images (made at
    upload, exactly what the model sees), their human labels, keyed by photo id. Only held-out
    photos: a fine-tune learns from the others, and a score on those would flatter it."""
    rows = list(Photo.objects.filter(label__isnull=False, held_out=True).order_by("pk")
                .values_list("pk", "model_input", "label"))
    images = (np.stack([model_input_array(data) for _, data, _ in rows])
              if rows else np.zeros((0, 28, 28), dtype=np.uint8))
    labels = np.asarray([label for *_, label in rows], dtype=np.int64)
    return EvalSet(name=PHOTOS_EVAL_SET, images=images, labels=labels,
                   fingerprint=fingerprint_of(images, labels), sample_keys=[str(pk) for pk, *_ in rows])


def photo_sample_image_url(sample_key: str) -> str:
    """For a report on the "photos" set: the URL of what the model saw for sample ``photo id``."""
    return reverse("photo_model_input", args=[int(sample_key)])


# --- the photo page: previous/next in a gallery view ------------------------------------


@dataclass(frozen=True)
class PhotoNeighbours:
    """Where a photo stands in a gallery view: the photos before and after it in the view's
    order (None at either end), its place (1-based; None when the view no longer shows it,
    say it was labelled in "Unlabelled": its neighbours are then where it would be), and how
    many photos the view shows."""

    previous: int | None
    next: int | None
    position: int | None
    count: int


# (field, descending, nulls last): nulls last True or False, or None for a field never null.
_Key = tuple[str, bool, bool | None]


def _order_keys(order: str) -> list[_Key]:
    """The gallery order as keys, from _ORDERINGS (its plain-string fields, created_at and pk,
    are never null)."""
    keys: list[_Key] = []
    for item in _ORDERINGS[order]:
        if isinstance(item, str):
            keys.append((item.lstrip("-"), item.startswith("-"), None))
        else:
            keys.append((item.expression.name, item.descending, bool(item.nulls_last)))
    return keys


def _after(keys: list[_Key], values: dict) -> Q:
    """The rows that come after `values` in the order `keys` (a keyset condition: each field
    equal up to one that is strictly after), nulls placed as the order places them."""
    after, equal_so_far = Q(pk__in=[]), Q()
    for name, descending, nulls_last in keys:
        value = values[name]
        if value is None:
            strictly = Q(pk__in=[]) if nulls_last else Q(**{f"{name}__isnull": False})
            equal = Q(**{f"{name}__isnull": True})
        else:
            strictly = Q(**{f"{name}__{'lt' if descending else 'gt'}": value})
            if nulls_last:
                strictly |= Q(**{f"{name}__isnull": True})
            equal = Q(**{name: value})
        after |= equal_so_far & strictly
        equal_so_far &= equal
    return after


def _ordering(keys: list[_Key]) -> list:
    return [(F(name).desc if descending else F(name).asc)(nulls_last=True if nulls_last else None,
                                                          nulls_first=True if nulls_last is False else None)
            for name, descending, nulls_last in keys]


def photo_neighbours(*, photo_id: int, filters: GalleryFilters) -> PhotoNeighbours:
    """The photo's previous and next in the gallery's view `filters` (its filter and order), by
    keyset on the order's fields: six small queries whatever the number of photos (two of them the
    latest label issue job, which the view's annotations need)."""
    keys = _order_keys(filters.order)
    names = [name for name, *_ in keys]
    # Its own place in the order, read as the view reads it (the same annotations), even when
    # the view's filter no longer shows it.
    values = photos_for_gallery(filters=GalleryFilters(order=filters.order)).filter(pk=photo_id).values(*names).first()
    view = photos_for_gallery(filters=filters)
    if values is None:
        return PhotoNeighbours(previous=None, next=None, position=None, count=view.count())
    reverse_keys = [(name, not descending, None if nulls_last is None else not nulls_last)
                    for name, descending, nulls_last in keys]
    before = _after(reverse_keys, values)
    figures = view.aggregate(count=Count("pk"), before=Count("pk", filter=before), shown=Count("pk", filter=Q(pk=photo_id)))
    return PhotoNeighbours(
        previous=view.filter(before).order_by(*_ordering(reverse_keys)).values_list("pk", flat=True).first(),
        next=view.filter(_after(keys, values)).order_by(*_ordering(keys)).values_list("pk", flat=True).first(),
        position=figures["before"] + 1 if figures["shown"] else None, count=figures["count"],
    )
