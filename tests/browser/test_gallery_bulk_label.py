"""Labelling several photos at once in the gallery: tick one, shift-click another to tick the
range between, x ticks the focused photo; "Label selected" records one correction each."""

import pytest

from classifier.models import LabelCorrection, Photo, PhotoState
from tests.browser.conftest import sign_in
from tests.factories import PhotoFactory, UserFactory

pytestmark = pytest.mark.browser


def test_shift_click_selects_a_range_and_x_adds_one_then_all_are_labelled_at_once(page, live_server):
    photos = PhotoFactory.create_batch(8)
    preparing = PhotoFactory(state=PhotoState.PREPARING, model_input=b"")
    user = UserFactory()
    sign_in(page, live_server, user.username)
    page.goto(f"{live_server.url}/photos/?order=created")
    page.locator("#photo-live[data-review-ready]").wait_for()
    card = lambda photo: page.locator(f"#photo-{photo.pk}")  # noqa: E731
    assert card(preparing).locator(".pick").count() == 0  # not ready: nothing to label yet

    card(photos[1]).locator(".pick").click()
    card(photos[4]).locator(".pick").click(modifiers=["Shift"])  # 1 to 4
    assert "4 selected" in page.locator("#bulk-count").inner_text()
    card(photos[6]).focus()
    page.keyboard.press("x")
    assert "5 selected" in page.locator("#bulk-count").inner_text()
    card(photos[3]).locator(".pick").click()  # and one out again
    assert "4 selected" in page.locator("#bulk-count").inner_text()

    page.select_option("#bulk-label-select", "7")  # Sneaker
    page.click("#bulk-label-submit")
    labelled = [photos[i] for i in (1, 2, 4, 6)]
    for photo in labelled:
        card(photo).and_(page.locator('[data-label="7"]')).wait_for()
    assert "4 photos labelled Sneaker" in page.locator("#review-status").inner_text()
    assert "0 selected" not in page.locator("#bulk-count").inner_text() and page.locator(".pick:checked").count() == 0
    assert {c.photo_id: (c.to_label, c.user, c.source) for c in LabelCorrection.objects.all()} == {
        p.pk: (7, user, "gallery (bulk)") for p in labelled}
    assert set(Photo.objects.filter(label=7).values_list("pk", flat=True)) == {p.pk for p in labelled}

    card(photos[0]).focus()
    page.keyboard.press("u")  # undo takes back the last of them, as after any change
    card(photos[6]).and_(page.locator('[data-label=""]')).wait_for()
    assert set(Photo.objects.filter(label=7).values_list("pk", flat=True)) == {p.pk for p in labelled[:3]}
