"""A run that succeeds gets its test-set report on the run page without a reload; the report's
confusion-matrix cells open their images in the browser."""

import re

import pytest

from classifier.models import EvaluationReport
from classifier.services import training as services
from tests.browser.conftest import sign_in
from tests.factories import StaffFactory, UserFactory, tiny_config

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_automatic_report_appears_live_and_its_cells_open_their_images(page, live_server, worker):
    user = UserFactory()
    run = services.training_run_create(created_by=StaffFactory(), config=tiny_config(epochs=1))
    sign_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.evaluate("window.__notReloaded = true")
    row = page.locator(".report-row", has=page.locator(".badge.succeeded"))
    row.wait_for(timeout=300_000)
    assert page.evaluate("window.__notReloaded") is True
    report = EvaluationReport.objects.get(run=run)
    assert f"{report.accuracy * 100:.2f} %" in row.inner_text()

    row.locator("a").click()
    page.wait_for_url(re.compile(rf"/reports/{report.pk}/$"))
    assert page.locator("#report-accuracy").inner_text() == f"{report.accuracy * 100:.2f} %"
    assert page.locator(".reliability").count() == 1
    # The off-diagonal cell with the most images: click it, get exactly those images.
    true_class, predicted = max(((t, p) for t in range(10) for p in range(10) if t != p),
                                key=lambda cell: report.confusion_matrix[cell[0]][cell[1]])
    count = report.confusion_matrix[true_class][predicted]
    page.locator(f'td[data-true="{true_class}"][data-predicted="{predicted}"] a').click()
    page.wait_for_url(re.compile(rf"/reports/{report.pk}/cells/{true_class}/{predicted}/$"))
    assert page.locator("#cell-summary strong").inner_text() == str(count)
    images = page.locator("#cell-gallery img")
    assert images.count() == min(count, 60)
    first = images.first
    first.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth === 112", arg=first.element_handle())
