"""Reads for the run pages, the admin and the train command."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.files import File
from django.db.models import DurationField, ExpressionWrapper, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Now
from django.shortcuts import get_object_or_404

from classifier.models import Checkpoint, EvaluationReport, JobStatus, Tag, TrainingRun
from classifier.selectors.photos import PHOTOS_EVAL_SET, checkpoint_for_prediction
from dataset.eval_sets import FMNIST_TEST

RUNS_PER_PAGE = 25

# The run list's columns that sort, by the name the URL uses (`?sort=test`, `?sort=-test`),
# with the value each sorts on (annotated by runs_for_list).
RUN_SORTS: dict[str, str] = {
    "id": "pk",
    "preset": "preset",
    "status": "status",
    "progress": "progress",
    "val": "best_val_acc",
    "test": "test_acc",
    "photos": "photo_acc",
    "duration": "duration_s",
    "by": "created_by__username",
    "created": "created_at",
}
DEFAULT_RUN_SORT = "-created"
ARCHIVED_CHOICES = {"": "hide archived", "include": "archived too", "only": "archived only"}


@dataclass(frozen=True)
class RunFilters:
    """What the run list shows: a search, filters, an order. From the page's GET parameters."""

    q: str = ""
    status: str = ""
    preset: str = ""
    tag: str = ""
    archived: str = ""
    sort: str = DEFAULT_RUN_SORT

    @classmethod
    def from_query(cls, query) -> RunFilters:
        """Anything unknown falls back to the default, so an old or edited URL still works."""
        status = query.get("status", "")
        sort = query.get("sort", DEFAULT_RUN_SORT)
        archived = query.get("archived", "")
        return cls(
            q=query.get("q", "").strip()[:200],
            status=status if status in JobStatus.values else "",
            preset=query.get("preset", "").strip()[:32],
            tag=query.get("tag", "").strip().lower()[:40],
            archived=archived if archived in ARCHIVED_CHOICES else "",
            sort=sort if sort.removeprefix("-") in RUN_SORTS else DEFAULT_RUN_SORT,
        )

    def as_query(self) -> dict[str, str]:
        """The non-default parameters, for links that keep the rest (sorting, paging)."""
        values = {"q": self.q, "status": self.status, "preset": self.preset, "tag": self.tag,
                  "archived": self.archived, "sort": "" if self.sort == DEFAULT_RUN_SORT else self.sort}
        return {name: value for name, value in values.items() if value}


def _report_figure(dataset_name: str, field: str) -> Subquery:
    """A figure of the run's report on ``dataset_name``: of its best scored checkpoint, the
    latest report on it (the automatic report scores the best checkpoint when the run ends)."""
    reports = (EvaluationReport.objects.filter(run=OuterRef("pk"), dataset_name=dataset_name,
                                               status=JobStatus.SUCCEEDED)
               .order_by(F("checkpoint__val_acc").desc(nulls_last=True), "-finished_at", "-pk"))
    return Subquery(reports.values(field)[:1])


def _search(runs: QuerySet[TrainingRun], q: str) -> QuerySet[TrainingRun]:
    """Every word must match the note, a tag, the preset or who started the run; `#12` or `12`
    also finds run 12."""
    for word in q.split():
        match = (Q(note__icontains=word) | Q(preset__icontains=word) | Q(created_by__username__icontains=word)
                 | Q(pk__in=Tag.runs.through.objects.filter(tag__name__icontains=word).values("trainingrun_id")))
        if word.removeprefix("#").isdigit():
            match |= Q(pk=int(word.removeprefix("#")))
        runs = runs.filter(match)
    return runs


def runs_for_list(*, filters: RunFilters = RunFilters()) -> QuerySet[TrainingRun]:
    """The experiment table: each run with its best validation accuracy, the test and photo
    accuracy of its best scored checkpoint (with n), its duration, tags and checkpoints, in a
    fixed number of queries however many runs there are."""
    runs = (
        _runs_filtered(filters).select_related("created_by", "parent_checkpoint")
        .annotate(
            best_val_acc=Max("epochs__val_acc"),
            test_acc=_report_figure(FMNIST_TEST, "accuracy"), test_n=_report_figure(FMNIST_TEST, "n_samples"),
            photo_acc=_report_figure(PHOTOS_EVAL_SET, "accuracy"),
            photo_n=_report_figure(PHOTOS_EVAL_SET, "n_samples"),
            duration_s=ExpressionWrapper(Coalesce(F("finished_at"), Now()) - F("started_at"),
                                         output_field=DurationField()),
        )
        .prefetch_related(Prefetch("checkpoints", queryset=Checkpoint.objects.order_by("epoch")), "tags")
    )
    field = RUN_SORTS[filters.sort.removeprefix("-")]
    # Blanks (no report yet, not started) go last whichever way a column sorts.
    order = F(field).desc(nulls_last=True) if filters.sort.startswith("-") else F(field).asc(nulls_last=True)
    return runs.order_by(order, "-pk")


def runs_count(*, filters: RunFilters = RunFilters()) -> int:
    """How many runs the experiment table lists, without the figures it shows for each (counting
    runs_for_list itself would compute every run's report figures)."""
    return _runs_filtered(filters).count()


def _runs_filtered(filters: RunFilters) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.all()
    if filters.archived == "":
        runs = runs.filter(archived_at__isnull=True)
    elif filters.archived == "only":
        runs = runs.filter(archived_at__isnull=False)
    if filters.status:
        runs = runs.filter(status=filters.status)
    if filters.preset:
        runs = runs.filter(preset=filters.preset)
    if filters.tag:
        runs = runs.filter(pk__in=Tag.runs.through.objects.filter(tag__name=filters.tag).values("trainingrun_id"))
    if filters.q:
        runs = _search(runs, filters.q)
    return runs


def run_list_choices() -> dict[str, list[str]]:
    """What the run list's filters offer: the presets and tags that runs have."""
    return {
        "presets": list(TrainingRun.objects.order_by("preset").values_list("preset", flat=True).distinct()),
        "tags": list(Tag.objects.filter(runs__isnull=False).order_by("name").values_list("name", flat=True).distinct()),
    }


def run_get(*, run_id: int) -> TrainingRun:
    return get_object_or_404(TrainingRun.objects.select_related("created_by", "parent_checkpoint"), pk=run_id)


def run_epochs(*, run: TrainingRun) -> list:
    return list(run.epochs.order_by("epoch"))


def run_checkpoints(*, run: TrainingRun) -> list[Checkpoint]:
    return list(run.checkpoints.order_by("epoch"))


def run_best_checkpoint(*, run: TrainingRun) -> Checkpoint | None:
    return run.checkpoints.order_by("-val_acc", "epoch").first()


def checkpoint_get(*, checkpoint_id: int) -> Checkpoint:
    return get_object_or_404(Checkpoint.objects.select_related("run"), pk=checkpoint_id)


class CheckpointFileProblem(Exception):
    """The checkpoint's file can't be used; the message says why, for a page. `missing`: there is
    no file at all (rather than one with other bytes)."""

    def __init__(self, message: str, *, missing: bool):
        super().__init__(message)
        self.missing = missing


def checkpoint_file_open_verified(*, checkpoint: Checkpoint) -> File:
    """The checkpoint's file, open at its start, once its bytes are checked against the sha256
    recorded when it was written (raises CheckpointFileProblem otherwise). Read once and handed
    out as checked: from a bucket, the bytes hashed are the bytes served, in one fetch."""
    try:
        handle = checkpoint.file.storage.open(checkpoint.file.name, "rb")
    except (FileNotFoundError, OSError):
        raise CheckpointFileProblem(f"The file of checkpoint #{checkpoint.pk} ({checkpoint.file.name}) is missing.",
                                    missing=True) from None
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    if digest.hexdigest() != checkpoint.sha256:
        handle.close()
        raise CheckpointFileProblem(
            f"The file of checkpoint #{checkpoint.pk} has changed since it was written (its sha256 no longer "
            "matches the one recorded); it can't be used.", missing=False)
    handle.seek(0)
    return handle


def checkpoint_file_problem(*, checkpoint: Checkpoint) -> str | None:
    """Why the checkpoint's file can't be used (missing, or not the bytes whose sha256 was
    recorded when it was written), or None when it is intact. Hashing a few MB costs
    milliseconds, and a swapped file must never become the model that predicts."""
    try:
        checkpoint_file_open_verified(checkpoint=checkpoint).close()
    except CheckpointFileProblem as problem:
        return str(problem)
    return None


@dataclass(frozen=True)
class Downloadable:
    """Which checkpoints a user may download: `checkpoint.pk in downloadable` (in templates too)."""

    every: bool
    ids: frozenset[int]

    def __contains__(self, checkpoint_id: object) -> bool:
        return self.every or checkpoint_id in self.ids


_UNKNOWN = object()


def checkpoints_downloadable_by(*, user, active=_UNKNOWN) -> Downloadable:
    """Staff download any checkpoint; other signed-in users only the model that predicts the
    photos (to reproduce its predictions), not every experiment behind it. ``active``: that
    checkpoint, when the caller has looked it up already."""
    if user.is_staff:
        return Downloadable(every=True, ids=frozenset())
    if active is _UNKNOWN:
        active = checkpoint_for_prediction()
    return Downloadable(every=False, ids=frozenset([active.pk] if active else []))


def checkpoints_for_list() -> QuerySet[Checkpoint]:
    """Every checkpoint kept (the best and the last of each run), newest run first."""
    return Checkpoint.objects.select_related("run").order_by("-run_id", "-epoch")
