"""A checkpoint's two-domain scorecard: how it does on Fashion-MNIST's test set and on the
team's held-out photos, read from its latest succeeded report on each."""

from __future__ import annotations

from dataclasses import dataclass

from classifier.formatting import percent, points
from classifier.models import Checkpoint, EvaluationReport, JobStatus
from dataset.eval_sets import FMNIST_TEST

PHOTOS = "photos"  # the held-out labelled photos (classifier.selectors.photos)
DOMAINS = ((FMNIST_TEST, "Fashion-MNIST test"), (PHOTOS, "held-out photos"))
# A class of the photo domain whose accuracy falls by this much is worth a warning on its own.
CLASS_DROP_WARNING = 0.10
CLASS_MIN_SUPPORT = 5


@dataclass(frozen=True)
class ClassScore:
    name: str
    accuracy: float  # recall: the share of this class's images recognised
    support: int


@dataclass(frozen=True)
class DomainScore:
    dataset_name: str
    label: str
    report: EvaluationReport | None  # None: never scored on this domain

    @property
    def accuracy(self) -> float | None:
        return self.report.accuracy if self.report else None

    @property
    def n(self) -> int:
        return self.report.n_samples if self.report else 0

    @property
    def classes(self) -> list[ClassScore]:
        """The classes the domain has images of (the photos may cover only a few)."""
        if self.report is None:
            return []
        return [ClassScore(name=name, accuracy=row["recall"], support=row["support"])
                for name, row in zip(self.report.class_names, self.report.metrics["per_class"]) if row["support"]]


@dataclass(frozen=True)
class Scorecard:
    checkpoint: Checkpoint | None
    domains: list[DomainScore]

    def domain(self, dataset_name: str) -> DomainScore:
        return next(d for d in self.domains if d.dataset_name == dataset_name)


def checkpoint_scorecard(*, checkpoint: Checkpoint | None) -> Scorecard:
    reports: dict[str, EvaluationReport] = {}
    if checkpoint is not None:
        for report in (EvaluationReport.objects.defer("predictions")
                       .filter(checkpoint=checkpoint, status=JobStatus.SUCCEEDED,
                               dataset_name__in=[name for name, _ in DOMAINS])
                       .order_by("-finished_at", "-pk")):
            reports.setdefault(report.dataset_name, report)
    return Scorecard(checkpoint=checkpoint, domains=[
        DomainScore(dataset_name=name, label=label, report=reports.get(name)) for name, label in DOMAINS])


@dataclass(frozen=True)
class ClassDelta:
    name: str
    this: float | None
    other: float | None
    support: int

    @property
    def diff(self) -> float | None:
        return None if self.this is None or self.other is None else self.this - self.other


@dataclass(frozen=True)
class DomainComparison:
    label: str
    dataset_name: str
    this: DomainScore
    other: DomainScore

    @property
    def diff(self) -> float | None:
        if self.this.accuracy is None or self.other.accuracy is None:
            return None
        return self.this.accuracy - self.other.accuracy

    @property
    def same_images(self) -> bool:
        return bool(self.this.report and self.other.report and
                    self.this.report.dataset_fingerprint == self.other.report.dataset_fingerprint)

    @property
    def classes(self) -> list[ClassDelta]:
        this = {c.name: c for c in self.this.classes}
        other = {c.name: c for c in self.other.classes}
        names = [n for n in (self.this.report or self.other.report).class_names if n in this or n in other] \
            if (self.this.report or self.other.report) else []
        return [ClassDelta(name=n, this=this[n].accuracy if n in this else None,
                           other=other[n].accuracy if n in other else None,
                           support=(this.get(n) or other.get(n)).support) for n in names]


def scorecards_compare(*, this: Scorecard, other: Scorecard) -> list[DomainComparison]:
    """Domain by domain, ``this`` against ``other`` (a candidate against the active model, a
    fine-tune against its parent)."""
    return [DomainComparison(label=t.label, dataset_name=t.dataset_name, this=t, other=other.domain(t.dataset_name))
            for t in this.domains]


def promotion_warnings(*, candidate: Scorecard, active: Scorecard) -> list[str]:
    """Every reason to hesitate before making ``candidate`` the active model, in plain words."""
    if active.checkpoint is None:
        return [f"Not evaluated on {d.label} yet." for d in candidate.domains if d.report is None]
    warnings = []
    for comparison in scorecards_compare(this=candidate, other=active):
        if comparison.this.report is None:
            warnings.append(f"The candidate has not been evaluated on {comparison.label}: a drop there would go unseen.")
            continue
        if comparison.other.report is None:
            warnings.append(f"The active model has not been evaluated on {comparison.label}: nothing to compare with.")
            continue
        if comparison.diff < 0:
            warnings.append(
                f"{comparison.label[0].upper()}{comparison.label[1:]} accuracy drops from {percent(comparison.other.accuracy)} "
                f"to {percent(comparison.this.accuracy)} ({points(comparison.diff)})."
            )
        if not comparison.same_images:
            warnings.append(f"The two {comparison.label} reports scored different images (photos were added or "
                            "relabelled in between): evaluate both again to compare like with like.")
        if comparison.dataset_name == PHOTOS:
            for c in comparison.classes:
                if c.diff is not None and c.diff <= -CLASS_DROP_WARNING and c.support >= CLASS_MIN_SUPPORT:
                    warnings.append(f"On held-out photos of {c.name} accuracy drops from {percent(c.other)} to "
                                    f"{percent(c.this)} ({points(c.diff)}, {c.support} photos).")
    return warnings


def scorecard_snapshot(card: Scorecard) -> dict:
    """Plain data for the promotion record."""
    return {
        "checkpoint": card.checkpoint.pk if card.checkpoint else None,
        "domains": {d.dataset_name: {"report": d.report.pk if d.report else None, "accuracy": d.accuracy, "n": d.n}
                    for d in card.domains},
    }
