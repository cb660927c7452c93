"""What the API answers, as plain data built from the records (the OpenAPI schema comes from these)."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from ninja import Schema

from classifier.models import Checkpoint, LabelCorrection, Photo, Promotion, TrainingRun
from dataset.classes import CLASS_NAMES


def _name(label: int | None) -> str | None:
    return CLASS_NAMES[label] if label is not None else None


class ErrorOut(Schema):
    error: str


class PredictionOut(Schema):
    label: str
    label_index: int
    probabilities: list[float]  # all ten, in class order (class_names)
    class_names: list[str]
    checkpoint: int
    checkpoint_sha256: str
    preprocess_version: int
    photo: int | None = None  # the gallery photo made of it, with store=true


class PhotoOut(Schema):
    id: int
    original_name: str
    created_at: datetime
    width: int
    height: int
    held_out: bool
    state: str  # preparing (a worker makes what the model sees), ready, or failed
    preparation_error: str
    label: int | None
    label_name: str | None
    predicted_label: int | None
    predicted_name: str | None
    confidence: float | None
    probabilities: list[float] | None
    predicted_by: int | None
    url: str

    @classmethod
    def of(cls, photo: Photo, *, probabilities: bool = False) -> PhotoOut:
        return cls(id=photo.pk, original_name=photo.original_name, created_at=photo.created_at, width=photo.width,
                   height=photo.height, held_out=photo.held_out, state=photo.state,
                   preparation_error=photo.preparation_error, label=photo.label, label_name=_name(photo.label),
                   predicted_label=photo.predicted_label, predicted_name=_name(photo.predicted_label),
                   confidence=photo.confidence, probabilities=photo.probabilities if probabilities else None,
                   predicted_by=photo.predicted_by_id, url=reverse("photo_detail", args=[photo.pk]))


class PhotoPageOut(Schema):
    count: int
    page: int
    pages: int
    results: list[PhotoOut]


class LabelIn(Schema):
    label: int | None  # a class index 0-9, or null to clear the label


class CorrectionOut(Schema):
    id: int
    created_at: datetime
    user: str | None
    from_label: int | None
    to_label: int | None
    reverts: int | None
    reverted_by: int | None
    source: str

    @classmethod
    def of(cls, c: LabelCorrection) -> CorrectionOut:
        reverted_by = getattr(c, "reverted_by", None)
        return cls(id=c.pk, created_at=c.created_at, user=c.user.get_username() if c.user else None,
                   from_label=c.from_label, to_label=c.to_label, reverts=c.reverts_id,
                   reverted_by=reverted_by.pk if reverted_by else None, source=c.source)


class CheckpointOut(Schema):
    id: int
    run: int
    epoch: int
    val_acc: float
    val_loss: float
    size: int
    sha256: str
    created_at: datetime
    is_active: bool

    @classmethod
    def of(cls, c: Checkpoint, *, active_id: int | None) -> CheckpointOut:
        return cls(id=c.pk, run=c.run_id, epoch=c.epoch, val_acc=c.val_acc, val_loss=c.val_loss, size=c.size,
                   sha256=c.sha256, created_at=c.created_at, is_active=c.pk == active_id)


class EpochOut(Schema):
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float


class RunOut(Schema):
    id: int
    status: str
    preset: str
    seed: int
    note: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float
    epochs_done: int
    error: str
    url: str

    @classmethod
    def fields_of(cls, run: TrainingRun) -> dict:
        return dict(id=run.pk, status=run.status, preset=run.preset, seed=run.seed, note=run.note,
                    created_by=run.created_by.get_username() if run.created_by else None, created_at=run.created_at,
                    started_at=run.started_at, finished_at=run.finished_at, progress=run.progress,
                    epochs_done=run.epochs_done, error=run.error, url=reverse("run_detail", args=[run.pk]))

    @classmethod
    def of(cls, run: TrainingRun) -> RunOut:
        return cls(**cls.fields_of(run))


class RunDetailOut(RunOut):
    config: dict
    device: str
    precision: str
    plan: dict | None
    parent_checkpoint: int | None
    epochs: list[EpochOut]
    checkpoints: list[CheckpointOut]
    reports: list[int]


class RunIn(Schema):
    """As the New run page: blank fields take the preset's defaults."""

    preset: str = "fast"
    budget: str = ""  # minutes ("2", "2.5") or "notebook"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str = ""
    seed: int | None = 0
    limit: int | None = None
    device: str = "auto"
    note: str = ""


class ClassFigures(Schema):
    """null scores for a class the set has no images of: there is nothing to score it on."""

    index: int
    name: str
    precision: float | None
    recall: float | None
    f1: float | None
    support: int


class ReportOut(Schema):
    id: int
    status: str
    run: int
    checkpoint: int | None
    checkpoint_epoch: int
    checkpoint_sha256: str
    dataset: str
    n: int
    accuracy: float | None
    loss: float | None
    ece: float | None
    class_names: list[str]
    per_class: list[ClassFigures]
    confusion_matrix: list[list[int]]  # rows: true class, columns: predicted
    error: str
    url: str


class PromoteIn(Schema):
    reason: str
    acknowledge_warnings: bool = False


class PromotionOut(Schema):
    id: int
    checkpoint: int
    previous: int | None
    promoted_by: str | None
    created_at: datetime
    reason: str
    warnings: list[str]
    rolls_back: int | None

    @classmethod
    def of(cls, p: Promotion) -> PromotionOut:
        return cls(id=p.pk, checkpoint=p.checkpoint_id, previous=p.previous_id,
                   promoted_by=p.promoted_by.get_username() if p.promoted_by else None, created_at=p.created_at,
                   reason=p.reason, warnings=list(p.warnings), rolls_back=p.rolls_back_id)


class DomainOut(Schema):
    dataset: str
    label: str
    report: int | None
    accuracy: float | None
    n: int


class ModelOut(Schema):
    checkpoint: CheckpointOut | None  # the model that predicts photos and the API's predict
    promoted: bool  # False: no one promoted one yet, the newest succeeded run's best predicts
    promotion: PromotionOut | None
    scorecard: list[DomainOut]
    preprocess_version: int
