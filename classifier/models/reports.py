"""Evaluation reports: a checkpoint scored on a dataset, kept as a comparable record.

A report is also a job (classifier.models.jobs), so its page shows progress, it can be
cancelled, and a dead worker's report is scored again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings
from django.db import models
from django.urls import reverse

from classifier.models.jobs import Job
from classifier.models.runs import Checkpoint, TrainingRun
from dataset.eval_sets import FMNIST_TEST

# The datasets a report can score, by the name stored on the report, with what users call
# them. An outside folder or CSV manifest (named by its path, from the shell) is shown as is.
DATASET_LABELS: dict[str, str] = {
    FMNIST_TEST: "Fashion-MNIST test set",
    "photos": "held-out labelled photos",
}


class ReportOrigin(models.TextChoices):
    TRAINING = "training", "automatically, after training"
    PAGE = "page", "run page"
    ADMIN = "admin", "admin"
    COMMAND = "command", "manage.py evaluate"


@dataclass(frozen=True)
class Predictions:
    """What the model said about each sample, in the order of the dataset."""

    labels: np.ndarray  # (N,) uint8, the true class
    predicted: np.ndarray  # (N,) uint8
    top_classes: np.ndarray  # (N, 3) uint8, most probable first
    top_probs: np.ndarray  # (N, 3) float32
    true_probs: np.ndarray  # (N,) float32

    @property
    def confidence(self) -> np.ndarray:
        return self.top_probs[:, 0]

    def __len__(self) -> int:
        return len(self.labels)


PREDICTION_ARRAYS = ("labels", "predicted", "top_classes", "top_probs", "true_probs")


def predictions_pack(predictions: Predictions) -> bytes:
    """About 0.2 MB for the 10,000 test images: small enough for a row, so the pages never re-run
    the model."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: getattr(predictions, name) for name in PREDICTION_ARRAYS})
    return buffer.getvalue()


def predictions_unpack(blob: bytes) -> Predictions:
    with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as arrays:
        return Predictions(**{name: arrays[name] for name in PREDICTION_ARRAYS})


class EvaluationReport(Job):
    task_name = "worker.tasks.evaluate_report"
    kind = "report"
    resumable = True  # scoring again from the start gives the same figures

    # A report outlives the checkpoint it scored: training prunes all but the best and the
    # last checkpoint, and a finished report stays comparable after its file is gone.
    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="reports")
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="reports")
    checkpoint_epoch = models.PositiveIntegerField()
    checkpoint_sha256 = models.CharField(max_length=64)

    dataset_name = models.CharField(max_length=500, default=FMNIST_TEST, db_index=True,
                                    help_text="fmnist-test, photos, or a folder or manifest path")
    dataset_fingerprint = models.CharField(max_length=64, blank=True)
    n_samples = models.PositiveIntegerField(default=0)

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="evaluation_reports")
    origin = models.CharField(max_length=16, choices=ReportOrigin.choices, default=ReportOrigin.PAGE)
    device = models.CharField(max_length=100, blank=True, help_text="the device actually used")
    precision = models.CharField(max_length=8, blank=True, help_text="fp32 or bf16")
    seconds = models.FloatField(null=True, blank=True, help_text="loading, inference and metrics")

    # The figures. accuracy and loss are columns so lists can show and sort them; the rest is
    # engine.metrics' output: class_names, per_class, macro, calibration (ece, bins).
    accuracy = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    confusion_matrix = models.JSONField(default=list, blank=True, help_text="rows = true class")
    # Per sample, compressed (see predictions_pack). sample_keys is null when the key of sample
    # i is str(i), as for fmnist-test (the test index); otherwise a list (photo ids, file paths).
    predictions = models.BinaryField(null=True, blank=True)
    sample_keys = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Report #{self.pk} (run #{self.run_id} epoch {self.checkpoint_epoch}, {self.dataset_name})"

    @property
    def label(self) -> str:
        """How pages name the model a report scored."""
        return f"run #{self.run_id}, epoch {self.checkpoint_epoch}"

    @property
    def dataset_label(self) -> str:
        return DATASET_LABELS.get(self.dataset_name, self.dataset_name)

    def get_absolute_url(self) -> str:
        return reverse("report_detail", args=[self.pk])

    @property
    def class_names(self) -> list[str]:
        return list(self.metrics.get("class_names", []))

    @property
    def ece(self) -> float | None:
        return self.metrics.get("calibration", {}).get("ece")

    @cached_property
    def prediction_table(self) -> Predictions:
        if not self.predictions:
            raise ValueError(f"report {self.pk} has no predictions ({self.status})")
        return predictions_unpack(self.predictions)

    def sample_key(self, index: int) -> str:
        return str(index) if self.sample_keys is None else self.sample_keys[index]
