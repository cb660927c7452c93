"""Telling outgoing webhooks what happened: a delivery per active hook of the event's kind,
sent by a worker (worker.webhooks) once the transaction commits, retried with backoff, every
attempt's answer recorded on the delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from classifier.models import (
    DeliveryStatus,
    EvaluationReport,
    Job,
    JobStatus,
    Promotion,
    TrainingRun,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
)
from fmnistsite.celery import app

logger = logging.getLogger(__name__)

DELIVER_TASK = "worker.tasks.deliver_webhook"
SIGNATURE_HEADER = "X-Fmnist-Signature"
RESPONSE_KEPT = 2000  # characters of the receiver's answer kept on the delivery


def webhook_body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()


def webhook_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body with the hook's secret>`: the receiver computes the
    same and compares (hmac.compare_digest)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhooks_emit(*, event: str, data: dict) -> list[WebhookDelivery]:
    """Record a delivery for every active hook of this event, each sent after commit."""
    deliveries = []
    for hook in Webhook.objects.filter(event=event, is_active=True):
        delivery = WebhookDelivery.objects.create(webhook=hook, event=event, payload={})
        delivery.payload = {"event": event, "delivery": delivery.pk, "created_at": delivery.created_at.isoformat(),
                            "data": data}
        delivery.save(update_fields=["payload"])
        transaction.on_commit(lambda pk=delivery.pk: _send(pk))
        deliveries.append(delivery)
    return deliveries


def _send(delivery_id: int, countdown: float | None = None) -> None:
    try:
        app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown, retry=True,
                      retry_policy=settings.JOB_SEND_RETRY_POLICY)
    except Exception as exc:  # noqa: BLE001 - kombu and redis raise many kinds; the delivery stays pending
        logger.warning("webhook delivery %s not sent, the queue is unreachable (%s)", delivery_id, exc)


def webhook_delivery_record(*, delivery: WebhookDelivery, status: int | None, body: str = "",
                            error: str = "") -> float | None:
    """Record one attempt's answer (status None: no answer at all). Returns the seconds to wait
    before the next attempt, or None when there is none (delivered, or attempts used up)."""
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status, delivery.response_body, delivery.error = status, body[:RESPONSE_KEPT], error[:1000]
    wait = None
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        # Exponential backoff: a receiver that is down for a while is not hammered.
        wait = settings.WEBHOOK_RETRY_BASE_S * 2 ** (delivery.attempts - 1)
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + timedelta(seconds=wait)
    delivery.save(update_fields=["attempts", "last_attempt_at", "response_status", "response_body", "error", "status",
                                 "delivered_at", "next_attempt_at"])
    logger.info("webhook delivery %s attempt %s: %s %s", delivery.pk, delivery.attempts, status or error,
                delivery.status)
    return wait


def webhooks_resend_due() -> int:
    """Send again pending deliveries whose attempt is long overdue (their message was lost:
    Redis was down when it was sent, or a worker died holding the retry). Part of the jobs'
    sweep. A receiver may then see a delivery twice: X-Fmnist-Delivery tells it so."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.JOB_RESEND_AFTER_S)
    due = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
               .filter(Q(next_attempt_at__lt=overdue) | Q(next_attempt_at__isnull=True, created_at__lt=overdue))
               .values_list("pk", flat=True))
    for pk in due:
        # Marked first, so the next sweep waits as long again before sending it once more.
        WebhookDelivery.objects.filter(pk=pk).update(next_attempt_at=now)
        _send(pk)
    return len(due)


# --- the events -----------------------------------------------------------------------------


def webhooks_job_finished(*, job: Job) -> None:
    """A run that succeeded or failed, a report that is done: tell who asked to be told."""
    job = type(job).objects.get(pk=job.pk)
    if isinstance(job, TrainingRun) and job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        best = job.checkpoints.order_by("-val_acc", "epoch").first()
        webhooks_emit(event=WebhookEvent.RUN_SUCCEEDED if job.status == JobStatus.SUCCEEDED else WebhookEvent.RUN_FAILED,
                      data={"run": job.pk, "status": job.status, "preset": job.preset, "note": job.note,
                            "error": job.error, "best_checkpoint": best.pk if best else None,
                            "best_val_acc": best.val_acc if best else None, "url": reverse("run_detail", args=[job.pk])})
    elif isinstance(job, EvaluationReport) and job.status == JobStatus.SUCCEEDED:
        webhooks_emit(event=WebhookEvent.REPORT_DONE,
                      data={"report": job.pk, "run": job.run_id, "checkpoint": job.checkpoint_id,
                            "dataset": job.dataset_name, "n": job.n_samples, "accuracy": job.accuracy,
                            "url": job.get_absolute_url()})


def webhooks_promotion(*, promotion: Promotion) -> None:
    event = WebhookEvent.ROLLBACK if promotion.rolls_back_id else WebhookEvent.PROMOTION
    webhooks_emit(event=event, data={
        "promotion": promotion.pk, "checkpoint": promotion.checkpoint_id, "previous": promotion.previous_id,
        "rolls_back": promotion.rolls_back_id, "reason": promotion.reason,
        "by": promotion.promoted_by.get_username() if promotion.promoted_by else None,
        "url": reverse("checkpoint_detail", args=[promotion.checkpoint_id]),
    })
