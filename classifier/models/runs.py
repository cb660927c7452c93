"""Training runs, their per-epoch logs and their checkpoints."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import Storage
from django.db import models
from django.urls import reverse
from django.utils import timezone

from classifier import storage
from classifier.models.jobs import Job, JobStatus
from classifier.models.tags import Tag
from engine.config import TrainConfig


def checkpoint_storage() -> Storage:
    # A callable keeps the storage out of migrations; STORAGES["checkpoints"] says where files go.
    return storage.checkpoint_storage


class TrainingRun(Job):
    task_name = "worker.tasks.train_run"
    kind = "run"
    requester_field = "created_by"
    # Not resumed after its worker died: starting hours of training again unasked would
    # surprise more than help; it fails with the reason, and staff start it again.
    resumable = False

    # The full TrainConfig as a dict (engine.config.TrainConfig.to_dict()).
    config = models.JSONField()
    preset = models.CharField(max_length=32)
    seed = models.BigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="runs")
    # Archived runs leave the run list (unless asked for) but keep everything: an experiment
    # table stays readable without deleting what someone may want to compare with later.
    archived_at = models.DateTimeField(null=True, blank=True, db_index=True)
    archived_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="training_runs")

    # Filled in by the worker that claims the run.
    device = models.CharField(max_length=100, blank=True, help_text="the device actually used")
    precision = models.CharField(max_length=8, blank=True, help_text="fp32 or bf16")
    torch_version = models.CharField(max_length=50, blank=True)
    dataset_fingerprint = models.CharField(max_length=64, blank=True)

    # Fine-tunes: the checkpoint they start from, and exactly which labelled photos (with which
    # labels) they trained on, so the run can be reproduced and compared with its parent.
    parent_checkpoint = models.ForeignKey("Checkpoint", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="child_runs")
    photo_snapshot = models.JSONField(null=True, blank=True, help_text="[[photo id, label], ...]")
    photo_snapshot_fingerprint = models.CharField(max_length=64, blank=True)

    epochs_done = models.PositiveIntegerField(default=0)
    # How long it trains, fixed by the worker before the first step: engine.budget.Plan as a dict
    # (epochs, total_steps, and for a time budget the budget and the speed measured there).
    plan = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.preset}, {self.status})"

    @property
    def epochs_total(self) -> int | None:
        """Planned epochs: known from the config, or, with a time budget, once a worker has planned."""
        if self.plan:
            return int(self.plan["epochs"])
        return self.config.get("epochs")

    @property
    def budget_s(self) -> float | None:
        """The training time it was given: a number of seconds, or the notebook's time as measured
        on its worker (None until it is measured, or for a run of fixed epochs)."""
        if self.plan and self.plan.get("budget_s"):
            return self.plan["budget_s"]
        return self.config.get("budget_s")

    @property
    def length_in_words(self) -> str:
        return TrainConfig.from_dict(self.config).length_in_words()

    def time_left(self) -> timedelta | None:
        """After its first epoch: the epochs still to go (from the steps left in its plan) at the
        mean length of its finished epochs, validation included. Before that, the elapsed-time
        guess every job has, which counts loading the data and any speed probe as training."""
        if self.status != JobStatus.RUNNING or not self.plan or not self.plan.get("batches_per_epoch"):
            return super().time_left()
        finished = [e.seconds for e in self.epochs.all()]
        if not finished:
            return super().time_left()
        epochs_left = (1 - self.progress) * self.plan["total_steps"] / self.plan["batches_per_epoch"]
        return timedelta(seconds=max(0.0, epochs_left) * sum(finished) / len(finished))

    def training_seconds(self) -> float:
        """Time spent in training steps so far (what a budget counts), the speed probe included."""
        done = sum(e.train_seconds or 0.0 for e in self.epochs.all())
        return done + (self.plan or {}).get("probe_s", 0.0)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def get_absolute_url(self) -> str:
        return reverse("run_detail", args=[self.pk])


class EpochLog(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField()
    train_acc = models.FloatField()
    val_loss = models.FloatField()
    val_acc = models.FloatField()
    seconds = models.FloatField(help_text="the whole epoch: training and validation")
    lr = models.FloatField()
    train_seconds = models.FloatField(null=True, blank=True, help_text="its training steps only")

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="one_log_per_epoch")]

    def __str__(self) -> str:
        return f"Run #{self.run_id} epoch {self.epoch}"


class Checkpoint(models.Model):
    """One saved model file. Files are immutable: a new epoch writes a new file."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    epoch = models.PositiveIntegerField()
    file = models.FileField(storage=checkpoint_storage, max_length=500)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    val_acc = models.FloatField()
    val_loss = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="one_checkpoint_per_epoch")]

    def __str__(self) -> str:
        return f"Checkpoint #{self.pk} (run #{self.run_id}, epoch {self.epoch})"

    @property
    def filename(self) -> str:
        return f"run{self.run_id}-epoch{self.epoch:03d}.pt"
