"""Which checkpoint is the active model, and how it came to be: every promotion is kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from classifier.models.runs import Checkpoint


class Promotion(models.Model):
    """One change of the active model. The latest promotion names the active checkpoint; a
    rollback is a promotion too (of the checkpoint that was active before), so history only grows."""

    # PROTECT: a checkpoint that is or was the active model must keep its file and row.
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="promotions")
    previous = models.ForeignKey(Checkpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 help_text="the active checkpoint before this promotion")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="promotions")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    reason = models.TextField()
    rolls_back = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollbacks",
                                   help_text="the promotion this one undid")
    # Both domains' figures of both checkpoints as they stood when the decision was made, and
    # the warnings that were shown: the record says what the person saw.
    scorecard = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Promotion #{self.pk}: checkpoint #{self.checkpoint_id}"
