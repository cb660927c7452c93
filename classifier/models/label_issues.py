"""Labels worth a second look: a job that scores every labelled photo for how likely its label
is wrong, and the scores it leaves."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from classifier.models.jobs import Job
from classifier.models.photos import CLASS_CHOICES, Photo
from classifier.models.runs import Checkpoint

# Cross-fitting: the photos a checkpoint trained on are split into this many folds, and each is
# scored by a small fine-tune that learnt from the other folds only.
DEFAULT_FOLDS = 5


class LabelIssueJob(Job):
    """Score every labelled photo with probabilities from a model that never trained on it: the
    examined checkpoint for photos it never saw, cross-fitted fine-tunes of a checkpoint that
    never saw them (its nearest such ancestor) for the photos it trained on."""

    task_name = "worker.tasks.find_label_issues"
    kind = "label-issues"
    noun = "Label issue job"
    resumable = True  # seeded: scoring again from the start writes the same scores

    checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="label_issue_jobs", help_text="the model whose view is examined")
    base_checkpoint = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+",
                                        help_text="its nearest ancestor that never trained on the photos it did")
    folds = models.PositiveSmallIntegerField(default=DEFAULT_FOLDS,
                                             help_text="cross-fitted fine-tunes; 0: the base model scores those photos")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="label_issue_jobs")
    total = models.PositiveIntegerField(default=0, help_text="labelled photos scored")
    suspects = models.PositiveIntegerField(default=0, help_text="photos flagged possibly mislabelled")
    # Which model scored which photos, and what each fold trained on: the audit of the rule that
    # no photo is scored by a model that learnt from it. [{"model", "trained_on", "scored"}, ...]
    sources = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def get_absolute_url(self) -> str:
        return reverse("label_issue_job_detail", args=[self.pk])


class LabelScore(models.Model):
    """How suspect one photo's label was, by one job: never edited."""

    job = models.ForeignKey(LabelIssueJob, on_delete=models.CASCADE, related_name="scores")
    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="label_scores")
    label = models.PositiveSmallIntegerField(choices=CLASS_CHOICES, help_text="the label it had when scored")
    suspected = models.PositiveSmallIntegerField(choices=CLASS_CHOICES,
                                                 help_text="the most likely class other than the label")
    score = models.FloatField(help_text="0-1, higher is more suspect: 1 - cleanlab's self-confidence label quality")
    label_probability = models.FloatField(help_text="out-of-sample probability of the label")
    is_issue = models.BooleanField(help_text="flagged by cleanlab's find_label_issues")
    scored_by = models.CharField(max_length=200, help_text="which model gave the probabilities")

    class Meta:
        ordering = ["-score", "pk"]
        constraints = [models.UniqueConstraint(fields=["job", "photo"], name="one_score_per_photo_and_job")]

    def __str__(self) -> str:
        return f"Photo #{self.photo_id}: {self.score:.3f}"
