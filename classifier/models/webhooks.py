"""Outgoing webhooks: a URL told when something happens (a run finished or failed, a report
is done, a checkpoint was promoted or rolled back), and every delivery with its answer."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookEvent(models.TextChoices):
    RUN_SUCCEEDED = "run.succeeded", "run finished"
    RUN_FAILED = "run.failed", "run failed"
    REPORT_DONE = "report.done", "report done"
    PROMOTION = "model.promoted", "promotion"
    ROLLBACK = "model.rolled_back", "rollback"


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """One URL for one kind of event. Each body is signed with the hook's secret (HMAC-SHA256 in
    the X-Fmnist-Signature header), so the receiver can tell it came from here; the secret is
    kept in clear because signing needs it, and shown to staff to configure the receiver."""

    event = models.CharField(max_length=32, choices=WebhookEvent.choices, db_index=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=_new_secret)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["event", "pk"]

    def __str__(self) -> str:
        return f"{self.event} → {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # not sent yet, or sent and to be tried again
    DELIVERED = "delivered", "delivered"  # answered 2xx
    FAILED = "failed", "failed"  # every attempt failed


class WebhookDelivery(models.Model):
    """One event told to one hook: the body as signed, and how the receiver last answered."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="the last answer's HTTP status")
    response_body = models.TextField(blank=True, help_text="the last answer's first characters")
    error = models.TextField(blank=True, help_text="why the last attempt failed")

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.event}, {self.status})"
