"""Outgoing webhooks: which events make deliveries, the signed body, and each attempt's answer
recorded, against a real local HTTP receiver (worker.webhooks.deliver called directly; a real
worker with its retries: tests/integration/test_webhooks_worker.py)."""

import hashlib
import hmac
import json
import socket

from classifier.models import DeliveryStatus, TrainingRun, Webhook, WebhookDelivery, WebhookEvent
from classifier.services import jobs as job_services
from classifier.services import promotions as promotion_services
from classifier.services import webhooks as services
from tests.factories import StaffFactory, TrainingRunFactory, checkpoint_with_file, report_from_logits
from tests.receivers import Receiver
from worker.webhooks import deliver


def _claimed_run() -> TrainingRun:
    run = TrainingRunFactory()
    return job_services.job_claim(model=TrainingRun, job_id=run.pk, worker_host="test")


def test_a_succeeded_run_is_told_only_to_the_hooks_of_that_event(db, sent_tasks, django_capture_on_commit_callbacks):
    told = Webhook.objects.create(event=WebhookEvent.RUN_SUCCEEDED, url="http://127.0.0.1:9/ok")
    Webhook.objects.create(event=WebhookEvent.RUN_FAILED, url="http://127.0.0.1:9/failed")
    Webhook.objects.create(event=WebhookEvent.RUN_SUCCEEDED, url="http://127.0.0.1:9/off", is_active=False)
    run = _claimed_run()
    with django_capture_on_commit_callbacks(execute=True):
        job_services.job_succeed(job=run)
    delivery = WebhookDelivery.objects.get()
    assert delivery.webhook == told and delivery.event == "run.succeeded"
    assert delivery.payload["data"]["run"] == run.pk and delivery.payload["data"]["status"] == "succeeded"
    assert delivery.payload["delivery"] == delivery.pk
    assert ("worker.tasks.deliver_webhook", delivery.pk) in sent_tasks


def test_failed_runs_done_reports_promotions_and_rollbacks_are_events(db, sent_tasks):
    for event in WebhookEvent.values:
        Webhook.objects.create(event=event, url=f"http://127.0.0.1:9/{event}")
    run = _claimed_run()
    job_services.job_fail(job=run, error="out of memory")
    first = checkpoint_with_file()
    report_from_logits([0], [[1] + [0] * 9], checkpoint=first)
    staff = StaffFactory()
    promotion = promotion_services.checkpoint_promote(checkpoint=first, user=staff, reason="first",
                                                      acknowledge_warnings=True)
    second = checkpoint_with_file()
    latest = promotion_services.checkpoint_promote(checkpoint=second, user=staff, reason="second",
                                                   acknowledge_warnings=True)
    promotion_services.promotion_rollback(promotion=latest, user=staff, reason="worse on photos")
    events = list(WebhookDelivery.objects.order_by("pk").values_list("event", flat=True))
    assert events == ["run.failed", "report.done", "model.promoted", "model.promoted", "model.rolled_back"]
    failed = WebhookDelivery.objects.get(event="run.failed").payload["data"]
    assert failed["error"] == "out of memory" and failed["run"] == run.pk
    rollback = WebhookDelivery.objects.get(event="model.rolled_back").payload["data"]
    assert rollback["checkpoint"] == first.pk and rollback["rolls_back"] == latest.pk and rollback["by"] == staff.username
    assert promotion.pk == WebhookDelivery.objects.filter(event="model.promoted").order_by("pk").first().payload["data"]["promotion"]


def test_a_delivery_posts_the_signed_body_and_records_the_answer(db, sent_tasks):
    with Receiver() as receiver:
        hook = Webhook.objects.create(event=WebhookEvent.RUN_SUCCEEDED, url=receiver.url)
        job_services.job_succeed(job=_claimed_run())
        delivery = WebhookDelivery.objects.get()
        assert deliver(delivery.pk) is None
    got = receiver.received[0]
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Fmnist-Event"] == "run.succeeded" and got.headers["X-Fmnist-Delivery"] == str(delivery.pk)
    # The receiver checks the signature with the hook's secret, as a real one would.
    expected = "sha256=" + hmac.new(hook.secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Fmnist-Signature"], expected)
    assert json.loads(got.body) == delivery.payload
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert delivery.response_status == 200 and delivery.response_body == "answered 200" and delivery.delivered_at
    # A settled delivery is never sent again.
    assert deliver(delivery.pk) is None and len(receiver.received) == 1


def test_a_wrong_secret_does_not_verify(db):
    body = b'{"event":"x"}'
    assert services.webhook_signature("one", body) != services.webhook_signature("two", body)


def test_an_error_answer_is_retried_with_backoff_then_given_up(db, sent_tasks, settings):
    settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_RETRY_BASE_S = 3, 10
    with Receiver(answers=[500, 503, 502]) as receiver:
        Webhook.objects.create(event=WebhookEvent.RUN_FAILED, url=receiver.url)
        job_services.job_fail(job=_claimed_run(), error="boom")
        delivery = WebhookDelivery.objects.get()
        waits = [deliver(delivery.pk) for _ in range(3)]
    assert waits == [10, 20, None]  # doubling, then no more
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert delivery.response_status == 502 and delivery.response_body == "answered 502"
    assert len(receiver.received) == 3
    assert len({r.body for r in receiver.received}) == 1  # the same signed body each time


def test_no_answer_at_all_is_recorded_as_an_error_and_retried(db, sent_tasks, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    Webhook.objects.create(event=WebhookEvent.RUN_SUCCEEDED, url=f"http://127.0.0.1:{port}/hook")
    job_services.job_succeed(job=_claimed_run())
    delivery = WebhookDelivery.objects.get()
    assert deliver(delivery.pk) == settings.WEBHOOK_RETRY_BASE_S
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.response_status is None
    assert "refused" in delivery.error.lower() and delivery.next_attempt_at is not None


def test_a_cancelled_run_tells_no_one(db, sent_tasks):
    Webhook.objects.create(event=WebhookEvent.RUN_FAILED, url="http://127.0.0.1:9/x")
    run = _claimed_run()
    job_services.job_mark_cancelled(job=run)
    assert not WebhookDelivery.objects.exists()


def test_the_sweep_sends_again_a_delivery_whose_message_was_lost(db, sent_tasks, settings):
    from datetime import timedelta

    from django.utils import timezone

    Webhook.objects.create(event=WebhookEvent.RUN_SUCCEEDED, url="http://127.0.0.1:9/x")
    job_services.job_succeed(job=_claimed_run())  # outside on_commit capture: its message is never sent
    delivery = WebhookDelivery.objects.get()
    assert sent_tasks == []
    job_services.jobs_sweep()
    assert sent_tasks == []  # not overdue yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.JOB_RESEND_AFTER_S + 1))
    job_services.jobs_sweep()
    assert sent_tasks == [("worker.tasks.deliver_webhook", delivery.pk)]
    job_services.jobs_sweep()
    assert len(sent_tasks) == 1  # it waits as long again before the next resend
