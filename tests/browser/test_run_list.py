"""The run list as an experiment table in Chromium: a search, an archive, a live update and a
figure downloaded as a real PNG."""

import io
import re

import pytest
from PIL import Image

from classifier.models import JobStatus, Tag, TrainingRun
from tests.browser.conftest import sign_in
from tests.factories import EpochLogFactory, StaffFactory, TrainingRunFactory, UserFactory

pytestmark = [pytest.mark.browser]


def _shown(page) -> set[int]:
    return {int(pk) for pk in page.locator("tr.run-row").evaluate_all("rows => rows.map(r => r.dataset.run)")}


def test_search_archive_live_status_and_a_figure_download(page, live_server):
    user = UserFactory(username="dana")
    mine = TrainingRunFactory(created_by=user, note="lower learning rate sweep", status=JobStatus.SUCCEEDED)
    for epoch, loss in enumerate((0.8, 0.55, 0.45), start=1):
        EpochLogFactory(run=mine, epoch=epoch, train_loss=loss, val_loss=loss + 0.05, val_acc=0.7 + epoch / 20)
    tagged = TrainingRunFactory(created_by=StaffFactory(), note="baseline", status=JobStatus.SUCCEEDED)
    tagged.tags.add(Tag.objects.create(name="sweep"))
    other = TrainingRunFactory(created_by=StaffFactory(), note="something else", status=JobStatus.RUNNING,
                               progress=0.25, epochs_done=0)
    sign_in(page, live_server, user.username)

    # Search: the note of one run, the tag of another.
    assert _shown(page) == {mine.pk, tagged.pk, other.pk}
    page.fill("input[name=q]", "sweep")
    page.click("#run-filters button[type=submit]")
    page.wait_for_url(re.compile(r"\?.*q=sweep"))
    assert _shown(page) == {mine.pk, tagged.pk}
    assert "2 runs matching" in page.locator("#run-count").inner_text()

    # Sorting by a column keeps the search.
    page.click("a.sort[data-sort=val]")
    page.wait_for_url(re.compile(r"sort=-val"))
    assert "q=sweep" in page.url and _shown(page) == {mine.pk, tagged.pk}

    # Archive my own run: it leaves the list, is kept, and shows with archived runs.
    page.locator(f"tr[data-run='{mine.pk}'] .archive-button").click()
    page.locator(".message", has_text="archived").wait_for()
    assert _shown(page) == {tagged.pk}
    assert TrainingRun.objects.get(pk=mine.pk).is_archived
    assert page.locator(f"tr[data-run='{tagged.pk}'] .archive-button").count() == 0  # not mine, not staff
    page.goto(f"{live_server.url}/?archived=only")
    assert _shown(page) == {mine.pk}

    # The list follows a running run by itself.
    page.goto(f"{live_server.url}/")
    page.evaluate("window.__notReloaded = true")
    TrainingRun.objects.filter(pk=other.pk).update(status=JobStatus.SUCCEEDED, progress=1.0)
    page.locator(f"tr[data-run='{other.pk}'] .badge.succeeded").wait_for(timeout=20_000)
    assert page.evaluate("window.__notReloaded") is True

    # A figure from the run page, downloaded as a real PNG drawn by matplotlib.
    page.goto(f"{live_server.url}/runs/{mine.pk}/")
    with page.expect_download() as download_info:
        page.locator("a.figure-download[data-format=png][data-style=slide]").first.click()
    download = download_info.value
    assert download.suggested_filename == f"run{mine.pk}-loss-slide.png"
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"matplotlib" in data[:200]  # its Software tag
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (1500, 840)
