"""The photo page in Chromium: opened from a filtered gallery, previous/next (links and keys)
walk that view in its order; a settled suspect still leads on to the next one; on a phone the
top bar's menu collapses behind a button."""

import re

import pytest
from django.utils import timezone

from classifier.models import JobStatus, LabelIssueJob, LabelScore
from tests.browser.conftest import sign_in
from tests.factories import PhotoFactory, TrainingRunFactory, UserFactory

pytestmark = [pytest.mark.browser]


def _photo_id(page) -> int:
    return int(re.search(r"/photos/(\d+)/", page.url).group(1))


def test_previous_and_next_follow_the_gallery_view_with_links_and_keys(page, live_server):
    user = UserFactory()
    # Wrong predictions, least confident first: c, a, b; the right one and the unlabelled one are not in the view.
    a, b, c = (PhotoFactory(label=1, predicted_label=2, confidence=x) for x in (0.5, 0.8, 0.2))
    PhotoFactory(label=2, predicted_label=2, confidence=0.1)
    PhotoFactory(predicted_label=3, confidence=0.05)
    sign_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/photos/?show=wrong&order=confidence")
    cards = page.locator(".photo-card")
    assert [int(card.get_attribute("data-photo-id")) for card in cards.all()] == [c.pk, a.pk, b.pk]

    cards.nth(1).locator(".card-foot a").click()  # the gallery's link carries its view
    page.wait_for_url(re.compile(rf"/photos/{a.pk}/\?.*show=wrong"))
    assert "2 of 3" in page.locator("#photo-position").inner_text()
    page.click("#photo-next")
    page.wait_for_url(re.compile(rf"/photos/{b.pk}/\?.*show=wrong"))
    assert page.locator("#photo-next").count() == 0  # the end of the view
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(rf"/photos/{a.pk}/\?"))
    page.keyboard.press("k")
    page.wait_for_url(re.compile(rf"/photos/{c.pk}/\?"))
    page.keyboard.press("j")
    page.wait_for_url(re.compile(rf"/photos/{a.pk}/\?"))

    # Typing in a field is not a key for the page.
    page.click("#photo-tags input[name=tags]")
    page.keyboard.type("jk")
    assert _photo_id(page) == a.pk

    # Labelling here comes back to the same view; the photo, now right, has left it but still
    # leads on to its neighbours.
    page.select_option("select[name=label]", "2")
    page.click("text=Save label")
    page.wait_for_url(re.compile(rf"/photos/{a.pk}/\?.*show=wrong"))
    assert "not in this view now (2 photos)" in page.locator("#photo-position").inner_text()
    page.keyboard.press("j")
    page.wait_for_url(re.compile(rf"/photos/{b.pk}/\?"))
    page.click("text=← back to the gallery")
    page.wait_for_url(re.compile(r"/photos/\?show=wrong&order=confidence$"))


def test_a_reviewer_settles_a_suspect_with_a_key_then_goes_on_to_the_next(page, live_server):
    user = UserFactory()
    start = timezone.now()
    photos = [PhotoFactory(label=label, labelled_at=start) for label in (0, 6)]
    job = LabelIssueJob.objects.create(status=JobStatus.SUCCEEDED, started_at=timezone.now(),
                                       finished_at=timezone.now())
    for photo, score in zip(photos, (0.9, 0.7)):
        LabelScore.objects.create(job=job, photo=photo, label=photo.label, suspected=3, score=score,
                                  label_probability=0.1, is_issue=True, scored_by="fold 1 of 5")
    sign_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/photos/{photos[0].pk}/?show=suspects&order=suspicion")
    page.locator("#photo-suspicion[data-keys-ready]").wait_for()
    page.keyboard.press("c")  # the review keys still work beside the walking ones
    page.locator("#photo-suspicion-score").wait_for()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(rf"/photos/{photos[1].pk}/\?.*show=suspects"))
    page.locator("#photo-suspicion[data-keys-ready]").wait_for()


def test_on_a_phone_the_menu_collapses_behind_a_button(browser, live_server, db):
    user = UserFactory()
    TrainingRunFactory(created_by=user, note="a run whose row is wider than a phone", status=JobStatus.SUCCEEDED)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, live_server, user.username)
        # The run table scrolls inside its box, not the page (nor do its hidden headings stick out).
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate("document.querySelector('#run-list-live .table-scroll').scrollWidth") > 390
        button = page.locator("#menu-toggle")
        assert button.is_visible() and button.get_attribute("aria-expanded") == "false"
        assert not page.locator("#site-menu").is_visible()
        button.click()
        assert button.get_attribute("aria-expanded") == "true"
        page.locator("nav[aria-label=Main] >> text=Photos").click()
        page.wait_for_url(f"{live_server.url}/photos/")
        page.locator("#menu-toggle").click()
        page.keyboard.press("Escape")
        assert page.locator("#menu-toggle").get_attribute("aria-expanded") == "false"
        page.set_viewport_size({"width": 1280, "height": 800})
        assert not page.locator("#menu-toggle").is_visible() and page.locator("#site-menu").is_visible()
    finally:
        context.close()
