"""Delivering a webhook: the signed JSON body POSTed to the hook's URL, the answer recorded."""

from __future__ import annotations

import urllib.error
import urllib.request

from django.conf import settings

from classifier.models import DeliveryStatus, WebhookDelivery
from classifier.services import webhooks as webhook_services


def deliver(delivery_id: int) -> float | None:
    """One attempt. Returns the seconds to wait before trying again, or None (delivered, given
    up, or nothing to do: a delivery already settled, or deleted)."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    body = webhook_services.webhook_body(delivery)
    request = urllib.request.Request(delivery.webhook.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "fmnist-webhooks/1",
        "X-Fmnist-Event": delivery.event,
        "X-Fmnist-Delivery": str(delivery.pk),
        webhook_services.SIGNATURE_HEADER: webhook_services.webhook_signature(delivery.webhook.secret, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_S) as response:
            status, text = response.status, response.read(webhook_services.RESPONSE_KEPT).decode(errors="replace")
        error = ""
    except urllib.error.HTTPError as exc:  # an answer, just not 2xx
        status, text, error = exc.code, exc.read(webhook_services.RESPONSE_KEPT).decode(errors="replace"), str(exc)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # no answer: refused, timed out, bad URL
        status, text, error = None, "", f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    return webhook_services.webhook_delivery_record(delivery=delivery, status=status, body=text, error=error)
