import hashlib
import shutil
from pathlib import Path

import factory
from django.conf import settings
from django.contrib.auth import get_user_model

from classifier.models import Checkpoint, EvaluationReport, RunStatus, TrainingRun
from worker.config import TrainConfig


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

    run = factory.SubFactory(TrainingRunFactory, status=RunStatus.SUCCEEDED)
    epoch = 1
    file = factory.LazyAttribute(lambda c: f"run-{c.run.pk}/epoch-{c.epoch:03d}.pt")
    size = 0
    sha256 = "0" * 64
    val_acc = 0.8
    val_loss = 0.5


def real_checkpoint(weights: Path, *, run: TrainingRun | None = None, epoch: int = 1, **fields) -> Checkpoint:
    """A checkpoint row whose file is a copy of a real checkpoint file, under CHECKPOINT_ROOT."""
    run = run or TrainingRunFactory(status=RunStatus.SUCCEEDED)
    relative = f"run-{run.pk}/epoch-{epoch:03d}.pt"
    path = Path(settings.CHECKPOINT_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return CheckpointFactory(run=run, epoch=epoch, file=relative, size=path.stat().st_size, sha256=sha256, **fields)


def report_from_logits(labels, logits, *, checkpoint: Checkpoint | None = None, dataset_name: str = "fmnist-test",
                       sample_keys: list[str] | None = None, **fields) -> EvaluationReport:
    """A succeeded report stored by the service, from made-up model outputs (no model run)."""
    import numpy as np

    from classifier.services import evaluation as services
    from dataset.classes import CLASS_NAMES
    from worker import metrics
    from worker.evaluation import EvaluationResult

    checkpoint = checkpoint or CheckpointFactory()
    report = EvaluationReport.objects.create(
        checkpoint=checkpoint, run=checkpoint.run, checkpoint_epoch=checkpoint.epoch,
        checkpoint_sha256=checkpoint.sha256, dataset_name=dataset_name, **fields,
    )
    services.evaluation_report_claim(report_id=report.pk, worker_host="test-host")
    summary = metrics.summarize(np.asarray(labels), np.asarray(logits, dtype=np.float32))
    services.evaluation_report_record_result(report_id=report.pk, result=EvaluationResult(
        summary=summary, class_names=list(CLASS_NAMES), dataset_name=dataset_name, dataset_fingerprint="f" * 64,
        sample_keys=sample_keys or [str(i) for i in range(summary.n)], device="cpu (test)", precision="fp32",
        seconds=0.5,
    ))
    report.refresh_from_db()
    return report
