"""A staff user starts a small run in the browser and watches the page fill in by itself."""

import re

import pytest

from classifier.models import JobStatus, TrainingRun
from classifier.services import training as services
from tests.browser.conftest import sign_in
from tests.factories import StaffFactory, tiny_config

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_staff_start_a_run_and_watch_it_live(page, live_server, worker):
    staff = StaffFactory()
    sign_in(page, live_server, staff.username)
    page.click("text=New run")
    page.check("input[name=preset][value=seed]")
    page.fill("input[name=epochs]", "2")
    page.fill("input[name=limit]", "1500")
    page.click("button:has-text('Start training')")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    run = TrainingRun.objects.get()
    assert run.created_by == staff and run.config["epochs"] == 2

    # The page was rendered before the worker could finish anything...
    assert page.locator("#run-status").inner_text() in ("queued", "running")
    assert page.locator(".epoch-row").count() == 0
    # ...and a marker on the window survives only if the page is never reloaded.
    page.evaluate("window.__notReloaded = true")
    page.locator(".epoch-row").first.wait_for(timeout=120_000)
    page.locator("#run-status", has_text="succeeded").wait_for(timeout=180_000)
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator(".epoch-row").count() == 2
    assert "2 of 2 epochs" in page.locator("#run-progress").inner_text()
    assert page.locator(".bar > div").first.get_attribute("style").replace(" ", "") == "width:100%"
    assert page.locator(".charts svg").count() == 2
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED
    row = page.locator(".epoch-row").nth(1).inner_text()
    assert f"{run.epochs.get(epoch=2).val_acc * 100:.2f} %" in row


def test_staff_cancel_a_running_run_from_its_page_after_confirming(page, live_server, worker):
    staff = StaffFactory()
    run = services.training_run_create(created_by=staff, config=tiny_config(epochs=20, limit=20_000))
    sign_in(page, live_server, staff.username)
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.locator("#run-status", has_text="running").wait_for(timeout=120_000)
    page.click("#run-cancel")
    page.wait_for_url(re.compile(rf"/jobs/run/{run.pk}/cancel/$"))
    assert "stops it at its next batch" in page.content()
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and not run.cancel_requested  # nothing happens before confirming
    page.click("#confirm-cancel")
    page.wait_for_url(re.compile(rf"/runs/{run.pk}/$"))
    page.locator("#run-status", has_text="cancelled").wait_for(timeout=60_000)
    assert f"by {staff.username}" in page.locator("#run-cancelled-by").inner_text()
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.cancelled_by == staff and run.epochs_done < 20
