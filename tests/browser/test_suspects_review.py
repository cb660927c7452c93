"""A reviewer filters the gallery to the possibly mislabelled photos, opens one and confirms its
label with one key; the confirmation is in the history and the photo leaves the list."""

import pytest
from django.utils import timezone

from classifier.models import JobStatus, LabelCorrection, LabelIssueJob, LabelScore
from classifier.services import photos as photo_services
from tests.browser.conftest import sign_in
from tests.factories import PhotoFactory, UserFactory, checkpoint_with_file

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_filter_the_suspects_and_confirm_one_with_a_key(page, live_server):
    user = UserFactory()
    photos = [PhotoFactory() for _ in range(3)]
    for photo, label in zip(photos, (0, 1, 6)):
        photo_services.photo_label_set(photo=photo, label=label, user=user)
    now = timezone.now()
    job = LabelIssueJob.objects.create(checkpoint=checkpoint_with_file(), status=JobStatus.SUCCEEDED, started_at=now,
                                       finished_at=now, total=3, suspects=2)
    for photo, label, suspected, score, flagged in zip(photos, (0, 1, 6), (6, 3, 0), (0.96, 0.05, 0.81),
                                                       (True, False, True)):
        LabelScore.objects.create(job=job, photo=photo, label=label, suspected=suspected, score=score,
                                  label_probability=1 - score, is_issue=flagged, scored_by="fold 1 of 5")

    sign_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/photos/")
    page.select_option("#gallery-filters select[name=show]", "suspects")
    page.select_option("#gallery-filters select[name=order]", "suspicion")
    page.click("#gallery-filters button[type=submit]")
    page.locator("#photo-live[data-review-ready]").wait_for()
    cards = page.locator(".photo-card")
    assert cards.count() == 2
    assert [cards.nth(i).get_attribute("data-photo-id") for i in range(2)] == [str(photos[0].pk), str(photos[2].pk)]
    first = cards.first.locator(".suspect").inner_text()
    assert "T-shirt/top" in first and "looks like Shirt" in first and "0.96" in first

    cards.first.locator(".card-foot a").click()
    page.locator("#photo-suspicion[data-keys-ready]").wait_for()
    page.keyboard.press("c")
    page.locator("#photo-suspicion-score").wait_for()  # reloaded: no longer an open suspicion
    assert "photo page (confirm key)" in page.locator("#history").inner_text()
    correction = LabelCorrection.objects.filter(photo=photos[0]).order_by("-pk").first()
    assert (correction.from_label, correction.to_label, correction.user) == (0, 0, user)

    page.goto(f"{live_server.url}/photos/?show=suspects&order=suspicion")
    page.locator("#photo-live[data-review-ready]").wait_for()
    assert [c.get_attribute("data-photo-id") for c in page.locator(".photo-card").all()] == [str(photos[2].pk)]
