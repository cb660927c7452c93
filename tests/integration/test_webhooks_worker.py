"""A real worker delivers a webhook to a real local receiver, trying again after an error
answer (the first retry waits WEBHOOK_RETRY_BASE_S, 10 s by default)."""

import pytest

from classifier.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from classifier.services import webhooks as services
from tests.receivers import Receiver
from tests.workers import wait_for

pytestmark = pytest.mark.integration


def test_the_worker_retries_until_the_receiver_answers(worker):
    with Receiver(answers=[500]) as receiver:
        hook = Webhook.objects.create(event=WebhookEvent.REPORT_DONE, url=receiver.url)
        delivery, = services.webhooks_emit(event=WebhookEvent.REPORT_DONE, data={"report": 7})
        done = wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DELIVERED).first(),
                        timeout=90, message=f"the delivery; worker log:\n{worker.log()}")
    assert done.attempts == 2 and done.response_status == 200
    assert [r.headers["X-Fmnist-Delivery"] for r in receiver.received] == [str(delivery.pk)] * 2
    body = receiver.received[1].body
    assert receiver.received[1].headers["X-Fmnist-Signature"] == services.webhook_signature(hook.secret, body)
    assert (done.delivered_at - done.created_at).total_seconds() >= 9  # it waited before trying again
