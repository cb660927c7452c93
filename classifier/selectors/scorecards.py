"""A checkpoint's two-domain scorecard: how it does on Fashion-MNIST's test set and on the
team's held-out photos, read from its latest succeeded report on each."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from classifier.formatting import percent
from classifier.models import NO_SOURCE, Checkpoint, EvaluationReport, JobStatus
from classifier.selectors.photos import photo_sources_of
from dataset.eval_sets import FMNIST_TEST
from engine.metrics import (
    SIGNIFICANT,
    items_to_tell_paired,
    items_to_tell_unpaired,
    paired_drop_p,
    unpaired_drop_p,
    wilson_interval,
)

PHOTOS = "photos"  # the held-out labelled photos (classifier.selectors.photos)
DOMAINS = ((FMNIST_TEST, "Fashion-MNIST test"), (PHOTOS, "held-out photos"))


@dataclass(frozen=True)
class Share:
    """hits out of n, with its 95 % Wilson interval: on a handful of photos the count says more
    than the percentage."""

    hits: int
    n: int

    @property
    def accuracy(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.hits, self.n)

    def __str__(self) -> str:
        if not self.n:
            return "no images"
        low, high = self.interval
        return f"{self.hits}/{self.n} ({percent(self.accuracy, 1)}, 95 % {100 * low:.0f}–{100 * high:.0f} %)"


@dataclass(frozen=True)
class GroupScore:
    """One class or one source of a domain."""

    kind: str  # "class" or "source"
    name: str
    share: Share
    keys: frozenset[str] = frozenset()  # its samples, for pairing two reports on the same images

    @property
    def accuracy(self) -> float | None:
        return self.share.accuracy

    @property
    def support(self) -> int:
        return self.share.n


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

    @cached_property
    def correct(self) -> dict[str, bool]:
        """Sample key -> whether the model got it right, from the report's stored predictions."""
        if self.report is None or not self.report.predictions:
            return {}
        table = self.report.prediction_table
        right = table.labels == table.predicted
        return {self.report.sample_key(i): bool(right[i]) for i in range(len(table))}

    @property
    def share(self) -> Share:
        if self.report is None:
            return Share(0, 0)
        return Share(round(self.report.accuracy * self.report.n_samples), self.report.n_samples)

    @cached_property
    def classes(self) -> list[GroupScore]:
        """The classes the domain has images of (the photos may cover only a few)."""
        if self.report is None:
            return []
        labels = {}
        if self.correct:
            table = self.report.prediction_table
            labels = {self.report.sample_key(i): int(table.labels[i]) for i in range(len(table))}
        return [GroupScore("class", name, Share(round(row["recall"] * row["support"]), row["support"]),
                           frozenset(k for k, label in labels.items() if label == index))
                for index, (name, row) in enumerate(zip(self.report.class_names, self.report.metrics["per_class"]))
                if row["support"]]

    @cached_property
    def sources(self) -> list[GroupScore]:
        """For the photos: one row per source (shop, home, upload batch), as photos record it."""
        if self.dataset_name != PHOTOS or not self.correct:
            return []
        keys_by_source: dict[str, list[str]] = {}
        source_of = photo_sources_of(int(k) for k in self.correct)
        for key in self.correct:
            keys_by_source.setdefault(source_of.get(int(key), ""), []).append(key)
        return [GroupScore("source", source or NO_SOURCE, Share(sum(self.correct[k] for k in keys), len(keys)),
                           frozenset(keys))
                for source, keys in sorted(keys_by_source.items(), key=lambda item: (-len(item[1]), item[0]))]


@dataclass(frozen=True)
class Scorecard:
    checkpoint: Checkpoint | None
    domains: list[DomainScore]

    def domain(self, dataset_name: str) -> DomainScore:
        return next(d for d in self.domains if d.dataset_name == dataset_name)


def checkpoint_scorecard(*, checkpoint: Checkpoint | None) -> Scorecard:
    reports: dict[str, EvaluationReport] = {}
    if checkpoint is not None:
        for report in (EvaluationReport.objects
                       .filter(checkpoint=checkpoint, status=JobStatus.SUCCEEDED,
                               dataset_name__in=[name for name, _ in DOMAINS])
                       .order_by("-finished_at", "-pk")):
            reports.setdefault(report.dataset_name, report)
    return Scorecard(checkpoint=checkpoint, domains=[
        DomainScore(dataset_name=name, label=label, report=reports.get(name)) for name, label in DOMAINS])


@dataclass(frozen=True)
class GroupComparison:
    """A class, a source or a whole domain, scored by two models; the verdict on a drop weighs
    it against the noise of so few images."""

    kind: str  # "domain", "class" or "source"
    name: str
    this: Share
    other: Share
    paired: tuple[int, int] | None  # (lost, gained) on the very same images, when both scored them

    @property
    def diff(self) -> float | None:
        if self.this.accuracy is None or self.other.accuracy is None:
            return None
        return self.this.accuracy - self.other.accuracy

    @property
    def drop_p(self) -> float:
        """The chance of a drop at least this large if the two were as good (one-sided)."""
        if self.paired is not None:
            return paired_drop_p(*self.paired)
        return unpaired_drop_p(self.other.hits, self.other.n, self.this.hits, self.this.n)

    @property
    def drops(self) -> bool:
        return self.diff is not None and self.diff < 0

    @property
    def real_drop(self) -> bool:
        return self.drops and self.drop_p < SIGNIFICANT

    @property
    def more_to_tell(self) -> int | None:
        """About how many more labelled held-out images of this group would tell a drop like this
        from noise; None when there is no drop or it is already clear."""
        if not self.drops or self.real_drop:
            return None
        if self.paired is not None:
            needed = items_to_tell_paired(*self.paired, self.this.n)
            return None if needed is None else max(1, needed - self.this.n)
        needed = items_to_tell_unpaired(self.other.accuracy, self.this.accuracy)
        return None if needed is None else max(1, needed - min(self.this.n, self.other.n))

    @property
    def p_display(self) -> str:
        return f"p = {self.drop_p:.2g}" if self.drops else ""


def _paired(this: DomainScore, other: DomainScore, keys: frozenset[str] | None = None) -> tuple[int, int] | None:
    """(lost, gained) over the samples both reports scored, when they scored the same images."""
    if not (this.report and other.report and this.report.dataset_fingerprint == other.report.dataset_fingerprint):
        return None
    if not this.correct or not other.correct:
        return None
    shared = (keys if keys is not None else frozenset(this.correct)) & frozenset(other.correct)
    lost = sum(1 for k in shared if other.correct[k] and not this.correct[k])
    gained = sum(1 for k in shared if this.correct[k] and not other.correct[k])
    return lost, gained


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

    @cached_property
    def overall(self) -> GroupComparison:
        return GroupComparison("domain", self.label, self.this.share, self.other.share, _paired(self.this, self.other))

    def _groups(self, this: list[GroupScore], other: list[GroupScore]) -> list[GroupComparison]:
        mine, theirs = {g.name: g for g in this}, {g.name: g for g in other}
        names = [g.name for g in this] + [g.name for g in other if g.name not in mine]
        rows = []
        for name in names:
            a, b = mine.get(name), theirs.get(name)
            kind = (a or b).kind
            rows.append(GroupComparison(kind, name, a.share if a else Share(0, 0), b.share if b else Share(0, 0),
                                        _paired(self.this, self.other, a.keys) if a and b and a.keys else None))
        return rows

    @cached_property
    def classes(self) -> list[GroupComparison]:
        return self._groups(self.this.classes, self.other.classes)

    @cached_property
    def sources(self) -> list[GroupComparison]:
        return self._groups(self.this.sources, self.other.sources)


def scorecards_compare(*, this: Scorecard, other: Scorecard) -> list[DomainComparison]:
    """Domain by domain, ``this`` against ``other`` (a candidate against the active model, a
    fine-tune against its parent)."""
    return [DomainComparison(label=t.label, dataset_name=t.dataset_name, this=t, other=other.domain(t.dataset_name))
            for t in this.domains]


@dataclass(frozen=True)
class PromotionReview:
    warnings: list[str]  # reasons to hesitate: the promotion must acknowledge them
    notes: list[str]  # drops too small to tell from noise, and how many more photos would tell


def _where(comparison: DomainComparison, group: GroupComparison) -> str:
    if group.kind == "domain":
        return f"On {comparison.label}"
    return f"On {comparison.label} of {group.name}" if group.kind == "class" else \
        f"On {comparison.label} from {group.name}"


def promotion_review(*, candidate: Scorecard, active: Scorecard) -> PromotionReview:
    """Every reason to hesitate before making ``candidate`` the active model, in plain words:
    a domain, class or source whose accuracy drops by more than its noise is a warning; one that
    drops within its noise gets a note that says so, and how many more photos would tell."""
    if active.checkpoint is None:
        return PromotionReview([f"Not evaluated on {d.label} yet." for d in candidate.domains if d.report is None], [])
    warnings, notes = [], []
    for comparison in scorecards_compare(this=candidate, other=active):
        if comparison.this.report is None:
            warnings.append(f"The candidate has not been evaluated on {comparison.label}: a drop there would go unseen.")
            continue
        if comparison.other.report is None:
            warnings.append(f"The active model has not been evaluated on {comparison.label}: nothing to compare with.")
            continue
        if not comparison.same_images:
            warnings.append(f"The two {comparison.label} reports scored different images (photos were added or "
                            "relabelled in between): evaluate both again to compare like with like.")
        # A domain of one class (or one source) is that class: its row would say the same again.
        groups = [rows for rows in (comparison.classes, comparison.sources) if len(rows) > 1]
        for group in [comparison.overall, *(g for rows in groups for g in rows)]:
            if not group.drops:
                continue
            change = f"accuracy drops from {group.other} to {group.this}"
            if group.real_drop:
                warnings.append(f"{_where(comparison, group)} {change}: more than chance would give "
                                f"({group.p_display}).")
            elif comparison.dataset_name == PHOTOS:
                notes.append(f"{_where(comparison, group)} {change}: too few held-out photos to tell "
                             f"({group.p_display}); about {group.more_to_tell} more labelled photos there would settle it.")
            else:  # Fashion-MNIST's test set can't grow: the drop is within its noise, and that's all
                notes.append(f"{_where(comparison, group)} {change}: within the noise ({group.p_display}).")
    return PromotionReview(warnings, notes)


def promotion_warnings(*, candidate: Scorecard, active: Scorecard) -> list[str]:
    return promotion_review(candidate=candidate, active=active).warnings


def scorecard_snapshot(card: Scorecard) -> dict:
    """Plain data for the promotion record."""
    return {
        "checkpoint": card.checkpoint.pk if card.checkpoint else None,
        "domains": {d.dataset_name: {"report": d.report.pk if d.report else None, "accuracy": d.accuracy, "n": d.n}
                    for d in card.domains},
    }
