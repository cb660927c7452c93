"""Reads for the report pages, the comparison page and `manage.py evaluate`.

Everything here is read from what the report stored (figures and per-sample predictions);
nothing re-runs the model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from classifier.charts import diff_style, heat_style, reliability_diagram
from classifier.models import EvaluationReport, JobStatus, TrainingRun
from classifier.selectors.photos import PHOTOS_EVAL_SET, photo_ids_existing, photo_sample_image_url
from classifier.selectors.scorecards import DomainScore, Share
from dataset.eval_sets import FMNIST_TEST

MISTAKES_SHOWN = 24
CELL_PAGE_SIZE = 60


def _reports() -> QuerySet[EvaluationReport]:
    # The per-sample blob is only read by the pages that show samples.
    return EvaluationReport.objects.select_related("run", "checkpoint", "requested_by").defer("predictions")


def report_get(*, report_id: int, with_predictions: bool = False) -> EvaluationReport:
    queryset = EvaluationReport.objects.select_related("run", "checkpoint", "requested_by") if with_predictions \
        else _reports()
    return get_object_or_404(queryset, pk=report_id)


def reports_for_run(*, run: TrainingRun) -> list[EvaluationReport]:
    return list(_reports().filter(run=run))


def reports_comparable(*, report: EvaluationReport) -> list[EvaluationReport]:
    """Succeeded reports on the same dataset, the ones a comparison with this one makes sense for."""
    return list(_reports().filter(dataset_name=report.dataset_name, status=JobStatus.SUCCEEDED)
                .exclude(pk=report.pk))


def report_existing(*, checkpoint, dataset_name: str) -> EvaluationReport | None:
    """The latest succeeded report of this checkpoint's very file on this dataset, if any."""
    return (_reports().filter(checkpoint=checkpoint, checkpoint_sha256=checkpoint.sha256, dataset_name=dataset_name,
                              status=JobStatus.SUCCEEDED).order_by("-finished_at", "-pk").first())


def reports_succeeded() -> list[EvaluationReport]:
    return list(_reports().filter(status=JobStatus.SUCCEEDED))


def run_latest_succeeded() -> TrainingRun | None:
    """The run `manage.py evaluate --latest` means: the last to succeed with a checkpoint."""
    return TrainingRun.objects.filter(status=JobStatus.SUCCEEDED, checkpoints__isnull=False).order_by(
        "-finished_at", "-pk").first()


# --- samples --------------------------------------------------------------------------------


def sample_image_url(report: EvaluationReport, key: str) -> str | None:
    """Where a page finds the picture of one sample of a report's dataset: a test image, what
    the model sees of a labelled photo, or of a file of an outside set (by its index)."""
    if report.dataset_name == FMNIST_TEST:
        return reverse("fmnist_test_image", args=[int(key)])
    if report.dataset_name == PHOTOS_EVAL_SET:
        return photo_sample_image_url(key)
    return reverse("report_sample_image", args=[report.pk, report.sample_keys.index(key)]) \
        if report.sample_keys else None


@dataclass(frozen=True)
class Sample:
    index: int  # position in the report's dataset
    key: str  # the dataset's own name for it: test index, photo id
    image_url: str | None
    true_class: int
    true_name: str
    predicted_class: int
    predicted_name: str
    confidence: float  # the probability of the predicted class
    true_prob: float  # the probability given to the true class
    top: list[tuple[str, float]]  # the three most probable classes, most probable first
    photo_id: int | None = None  # a report on the photos: the photo (its page, its original), if still kept

    @property
    def correct(self) -> bool:
        return self.true_class == self.predicted_class


def report_samples(*, report: EvaluationReport, indices) -> list[Sample]:
    table, names = report.prediction_table, report.class_names
    indices = [int(i) for i in indices]
    # On a report on the photos, each sample is a photo: shown beside what the model saw, and
    # linked to its page, unless it was deleted since (one query for all).
    kept = photo_ids_existing(int(report.sample_key(i)) for i in indices) \
        if report.dataset_name == PHOTOS_EVAL_SET else set()
    samples = []
    for i in indices:
        key = report.sample_key(i)
        true_class, predicted = int(table.labels[i]), int(table.predicted[i])
        samples.append(Sample(
            index=i, key=key, image_url=sample_image_url(report, key),
            true_class=true_class, true_name=names[true_class],
            predicted_class=predicted, predicted_name=names[predicted],
            confidence=float(table.top_probs[i, 0]), true_prob=float(table.true_probs[i]),
            top=[(names[int(c)], float(p)) for c, p in zip(table.top_classes[i], table.top_probs[i])],
            photo_id=int(key) if kept and int(key) in kept else None,
        ))
    return samples


def _by_confidence(indices: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    # Most confident first; ties keep dataset order, so pages are stable.
    return indices[np.argsort(-confidence[indices], kind="stable")]


def report_mistakes(*, report: EvaluationReport, limit: int = MISTAKES_SHOWN) -> list[Sample]:
    """The most confident mistakes first: the ones a user would most wrongly trust."""
    table = report.prediction_table
    wrong = np.flatnonzero(table.labels != table.predicted)
    return report_samples(report=report, indices=_by_confidence(wrong, table.confidence)[:limit])


def _check_class(report: EvaluationReport, value: int) -> None:
    if not 0 <= value < len(report.class_names):
        raise Http404(f"no class {value}")


def confusion_cell_samples(*, report: EvaluationReport, true_class: int, predicted_class: int, page: int | str = 1,
                           per_page: int = CELL_PAGE_SIZE) -> tuple[Page, list[Sample]]:
    """The samples of one confusion-matrix cell, most confident first, one page of them."""
    _check_class(report, true_class)
    _check_class(report, predicted_class)
    table = report.prediction_table
    cell = np.flatnonzero((table.labels == true_class) & (table.predicted == predicted_class))
    paginator = Paginator(_by_confidence(cell, table.confidence).tolist(), per_page)
    page_obj = paginator.get_page(page)
    return page_obj, report_samples(report=report, indices=page_obj.object_list)


# --- the report page ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    """None for a class the dataset has no images of: there is nothing to score it on."""

    index: int
    name: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: int

    @property
    def present(self) -> bool:
        return self.support > 0

    @property
    def recognised(self) -> Share:
        """Its images the model got right, with a 95 % interval: recall, as a count."""
        return Share(round((self.recall or 0) * self.support), self.support)


@dataclass(frozen=True)
class Cell:
    true_class: int
    predicted_class: int
    count: int
    share: float  # of the true class's row
    style: str

    @property
    def diagonal(self) -> bool:
        return self.true_class == self.predicted_class


@dataclass(frozen=True)
class MatrixRow:
    index: int
    name: str
    cells: list
    total: int


def report_classes(*, report: EvaluationReport) -> list[ClassRow]:
    """Per class; a class with no images in the set gets no score (reports stored before
    engine.metrics said so carry zeros there, read as None here all the same)."""
    rows = []
    for i, name in enumerate(report.class_names):
        scores = report.metrics["per_class"][i]
        present = scores["support"] > 0
        rows.append(ClassRow(index=i, name=name, support=scores["support"],
                             **{k: scores[k] if present else None for k in ("precision", "recall", "f1")}))
    return rows


def report_macro(*, report: EvaluationReport) -> dict:
    """Unweighted means over the classes the set has images of (a photo set may lack some),
    with how many those are."""
    present = [row for row in report_classes(report=report) if row.present]
    means = {k: (sum(getattr(row, k) for row in present) / len(present) if present else None)
             for k in ("precision", "recall", "f1")}
    return {**means, "classes": len(present), "of": len(report.class_names)}


def report_confusion(*, report: EvaluationReport) -> list[MatrixRow]:
    rows = []
    for t, counts in enumerate(report.confusion_matrix):
        total = sum(counts)
        cells = []
        for p, count in enumerate(counts):
            share = count / total if total else 0.0
            cells.append(Cell(true_class=t, predicted_class=p, count=count, share=share,
                              style=heat_style(share, diagonal=t == p) if count else ""))
        rows.append(MatrixRow(index=t, name=report.class_names[t], cells=cells, total=total))
    return rows


def report_page_data(*, report: EvaluationReport) -> dict:
    """What the report page shows once the report succeeded."""
    if not report.succeeded:
        return {}
    calibration = report.metrics["calibration"]
    return {
        "classes": report_classes(report=report),
        "macro": report_macro(report=report),
        "confusion": report_confusion(report=report),
        "reliability": reliability_diagram(bins=calibration["bins"], ece=calibration["ece"]),
        "mistakes": report_mistakes(report=report),
        "mistake_count": report.n_samples - sum(report.confusion_matrix[i][i] for i in range(len(report.class_names))),
        "overall": (domain := DomainScore(dataset_name=report.dataset_name, label=report.dataset_label, report=report)).share,
        "sources": domain.sources,
    }


def report_figures(*, report: EvaluationReport) -> dict:
    """The stored figures as plain data: what `manage.py evaluate --json` writes."""
    return {
        "report": report.pk,
        "status": report.status,
        "run": report.run_id,
        "checkpoint": report.checkpoint_id,
        "checkpoint_epoch": report.checkpoint_epoch,
        "checkpoint_sha256": report.checkpoint_sha256,
        "dataset": report.dataset_name,
        "dataset_fingerprint": report.dataset_fingerprint,
        "n": report.n_samples,
        "accuracy": report.accuracy,
        "loss": report.loss,
        "ece": report.ece,
        "class_names": report.class_names,
        "per_class": [{"class": row.name, "precision": row.precision, "recall": row.recall, "f1": row.f1,
                       "support": row.support} for row in report_classes(report=report)],
        "macro": report_macro(report=report),
        "confusion_matrix": report.confusion_matrix,
        "calibration": report.metrics.get("calibration"),
        "device": report.device,
        "precision": report.precision,
        "seconds": report.seconds,
    }


# --- comparing two reports ------------------------------------------------------------------


@dataclass(frozen=True)
class ClassDiff:
    name: str
    a: float | None  # recall: the share of the class's images recognised; None: no images of it
    b: float | None
    diff: float | None  # None: either has no images of the class, or the sets differ
    a_n: int
    b_n: int


@dataclass(frozen=True)
class DiffCell:
    true_class: int
    predicted_class: int
    a: int
    b: int
    diff: int  # b - a
    style: str


@dataclass(frozen=True)
class Comparison:
    a: EvaluationReport
    b: EvaluationReport
    same_dataset: bool
    accuracy_diff: float | None  # None when the sets differ: the difference would mix models with data
    classes: list[ClassDiff]
    matrix: list[MatrixRow] | None  # cells are DiffCells; None when the sets differ


def reports_compare_defaults(*, choices: list[EvaluationReport], a_id: int | None,
                             b_id: int | None) -> tuple[int | None, int | None]:
    """What the compare form preselects: two different reports, the second on the first's
    dataset (same images) when there is one: by default the newest such pair, older as A."""
    if not choices:
        return None, None
    by_id = {r.pk: r for r in choices}
    a = by_id.get(a_id)
    if a is None:
        # The newest report that has an older one on the same images, else the second newest.
        a = next((r for i, r in enumerate(choices) if any(
            o.dataset_name == r.dataset_name and o.dataset_fingerprint == r.dataset_fingerprint
            for o in choices[i + 1:])), None)
        if a is None:
            return (choices[1].pk, choices[0].pk) if len(choices) > 1 else (choices[0].pk, None)
        b = next(o for o in choices[choices.index(a) + 1:]
                 if o.dataset_name == a.dataset_name and o.dataset_fingerprint == a.dataset_fingerprint)
        return b.pk, a.pk
    if b_id in by_id and b_id != a.pk:
        return a.pk, b_id
    others = [r for r in choices if r.pk != a.pk]
    same = [r for r in others if r.dataset_name == a.dataset_name and r.dataset_fingerprint == a.dataset_fingerprint]
    pick = same or others
    return a.pk, pick[0].pk if pick else None


def reports_compare(*, a: EvaluationReport, b: EvaluationReport) -> Comparison:
    """B against A. Only on the same images (same dataset, same fingerprint) are differences
    given; otherwise both are shown side by side and the comparison says why there is no diff."""
    if not (a.succeeded and b.succeeded):
        raise Http404("only succeeded reports can be compared")
    if a.class_names != b.class_names:
        raise Http404("these reports score different classes")
    names = a.class_names
    same = a.dataset_name == b.dataset_name and a.dataset_fingerprint == b.dataset_fingerprint
    a_rows, b_rows = report_classes(report=a), report_classes(report=b)
    classes = [ClassDiff(name=name, a=ra.recall, b=rb.recall, a_n=ra.support, b_n=rb.support,
                         diff=rb.recall - ra.recall if same and ra.present and rb.present else None)
               for name, ra, rb in zip(names, a_rows, b_rows)]
    matrix = None
    if same:
        diffs = [[b.confusion_matrix[t][p] - a.confusion_matrix[t][p] for p in range(len(names))]
                 for t in range(len(names))]
        largest = max((abs(d) for row in diffs for d in row), default=0)
        matrix = [
            MatrixRow(index=t, name=names[t], total=sum(b.confusion_matrix[t]) - sum(a.confusion_matrix[t]), cells=[
                DiffCell(true_class=t, predicted_class=p, a=a.confusion_matrix[t][p], b=b.confusion_matrix[t][p],
                         diff=d, style=diff_style(d, largest=largest, diagonal=t == p))
                for p, d in enumerate(row)
            ])
            for t, row in enumerate(diffs)
        ]
    return Comparison(a=a, b=b, same_dataset=same, accuracy_diff=b.accuracy - a.accuracy if same else None,
                      classes=classes, matrix=matrix)
