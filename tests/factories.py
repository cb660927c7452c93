"""factory_boy factories, one for every model, and helpers that make real files and reports."""

import hashlib
from pathlib import Path

import factory
import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from classifier.models import (
    Checkpoint,
    EpochLog,
    EvaluationReport,
    JobStatus,
    LabelCorrection,
    Photo,
    PredictionJob,
    Promotion,
    TrainingRun,
)
from classifier.storage import checkpoint_storage
from dataset.photo_split import is_held_out
from engine.config import TrainConfig


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


def tiny_config(**overrides) -> TrainConfig:
    """A run that trains in a couple of seconds on real data."""
    values = dict(preset="seed", epochs=2, batch_size=64, limit=512, val_size=200)
    values.update(overrides)
    return TrainConfig.for_preset(**values)


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    config = factory.LazyFunction(lambda: tiny_config().to_dict())
    preset = factory.LazyAttribute(lambda run: run.config["preset"])
    seed = factory.LazyAttribute(lambda run: run.config["seed"])
    created_by = factory.SubFactory(StaffFactory)


class CheckpointFactory(factory.django.DjangoModelFactory):
    """A checkpoint row only; real_checkpoint() below also writes a real file."""

    class Meta:
        model = Checkpoint

    run = factory.SubFactory(TrainingRunFactory, status=JobStatus.SUCCEEDED)
    epoch = 1
    file = factory.LazyAttribute(lambda c: f"run-{c.run.pk}/epoch-{c.epoch:03d}.pt")
    size = 0
    sha256 = "0" * 64
    val_acc = 0.8
    val_loss = 0.5


class EpochLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EpochLog

    run = factory.SubFactory(TrainingRunFactory)
    epoch = factory.Sequence(lambda n: n + 1)
    train_loss = 0.6
    train_acc = 0.8
    val_loss = 0.5
    val_acc = 0.82
    seconds = 10.0
    lr = 1e-3


class EvaluationReportFactory(factory.django.DjangoModelFactory):
    """A queued report row (no figures); report_from_logits() below makes a succeeded one."""

    class Meta:
        model = EvaluationReport

    checkpoint = factory.SubFactory(CheckpointFactory)
    run = factory.LazyAttribute(lambda r: r.checkpoint.run)
    checkpoint_epoch = factory.LazyAttribute(lambda r: r.checkpoint.epoch)
    checkpoint_sha256 = factory.LazyAttribute(lambda r: r.checkpoint.sha256)
    dataset_name = "fmnist-test"


class PhotoFactory(factory.django.DjangoModelFactory):
    """A photo row with a made-up 28x28 model input and no files; services.photos.photo_upload
    (tests.photo_files) stores a real one."""

    class Meta:
        model = Photo

    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"photo {n}".encode()).hexdigest())
    stored_sha256 = factory.LazyAttribute(lambda p: p.sha256)
    original = factory.LazyAttribute(lambda p: f"photos/{p.sha256[:2]}/{p.sha256}.jpg")
    thumbnail = factory.LazyAttribute(lambda p: f"photos/{p.sha256[:2]}/{p.sha256}-thumb.jpg")
    model_input = factory.LazyFunction(lambda: np.zeros((28, 28), dtype=np.uint8).tobytes())
    preprocess_version = 2
    original_name = factory.Sequence(lambda n: f"photo-{n}.jpg")
    width = 640
    height = 480
    held_out = factory.LazyAttribute(lambda p: is_held_out(p.sha256))


class LabelCorrectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelCorrection

    photo = factory.SubFactory(PhotoFactory)
    user = factory.SubFactory(UserFactory)
    from_label = None
    to_label = 0
    source = "test"


class PredictionJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionJob

    checkpoint = factory.SubFactory(CheckpointFactory)


class PromotionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Promotion

    checkpoint = factory.SubFactory(CheckpointFactory)
    promoted_by = factory.SubFactory(StaffFactory)
    reason = "better on photos"


def checkpoint_with_file(**fields) -> Checkpoint:
    """A checkpoint row whose file exists, with a matching sha256 (bytes that are no model: enough
    for what only checks the file, such as promotion). Stored as training stores files: through
    STORAGES["checkpoints"] (CHECKPOINT_ROOT, or the bucket)."""
    checkpoint = CheckpointFactory(**fields)
    data = f"checkpoint {checkpoint.pk}".encode()
    name = checkpoint_storage.save(checkpoint.file.name, ContentFile(data))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(file=name, sha256=hashlib.sha256(data).hexdigest(),
                                                       size=len(data))
    checkpoint.refresh_from_db()
    return checkpoint


def real_checkpoint(weights: Path, *, run: TrainingRun | None = None, epoch: int = 1, **fields) -> Checkpoint:
    """A checkpoint row whose file is a copy of a real checkpoint file, stored as training stores it."""
    run = run or TrainingRunFactory(status=JobStatus.SUCCEEDED)
    data = Path(weights).read_bytes()
    name = checkpoint_storage.save(f"run-{run.pk}/epoch-{epoch:03d}.pt", ContentFile(data))
    return CheckpointFactory(run=run, epoch=epoch, file=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                             **fields)


def report_from_logits(labels, logits, *, checkpoint: Checkpoint | None = None, dataset_name: str = "fmnist-test",
                       sample_keys: list[str] | None = None, **fields) -> EvaluationReport:
    """A succeeded report stored through the job services, from made-up model outputs (no model run)."""
    from classifier.services import evaluation as evaluation_services
    from classifier.services import jobs as job_services
    from dataset.classes import CLASS_NAMES
    from engine import metrics
    from engine.results import EvaluationResult

    report = EvaluationReportFactory(checkpoint=checkpoint or CheckpointFactory(), dataset_name=dataset_name,
                                     **fields)
    job_services.job_claim(model=EvaluationReport, job_id=report.pk, worker_host="test-host")
    summary = metrics.summarize(np.asarray(labels), np.asarray(logits, dtype=np.float32))
    job_services.job_succeed(job=report, **evaluation_services.evaluation_result_fields(EvaluationResult(
        summary=summary, class_names=list(CLASS_NAMES), dataset_name=dataset_name, dataset_fingerprint="f" * 64,
        sample_keys=sample_keys or [str(i) for i in range(summary.n)], device="cpu (test)", precision="fp32",
        seconds=0.5,
    )))
    report.refresh_from_db()
    return report
