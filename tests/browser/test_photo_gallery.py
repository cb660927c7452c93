"""A user uploads photos in the browser (one is not a photo), a real worker predicts them, and
the user corrects a label with the keyboard; after a reload the correction is still there.
Uploads are stored at once and prepared on the worker: the cards show "preparing" until then."""

import pytest

from classifier.models import LabelCorrection, Photo
from tests.browser.conftest import sign_in
from tests.checkpoints import saved_checkpoint
from tests.factories import UserFactory
from tests.photo_files import shared_photos

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_upload_predict_and_correct_a_label_with_the_keyboard(page, live_server, worker):
    photos = shared_photos()
    checkpoint = saved_checkpoint(preset="seed")  # in the worker's CHECKPOINT_ROOT
    user = UserFactory()
    sign_in(page, live_server, user.username)
    page.click("nav >> text=Upload")
    page.locator("#upload-form[data-ready]").wait_for()
    dress = photos / "JockNessMonster__Neural-Network/dress_1.jpeg"  # a WebP named .jpeg, as found
    sneaker = photos / "Rohith04MVK__Fashion-MNIST/sneaker_2.png"
    page.set_input_files("#photo-input", [
        {"name": dress.name, "mimeType": "image/jpeg", "buffer": dress.read_bytes()},
        {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"these are my notes, not a photo"},
        {"name": sneaker.name, "mimeType": "image/png", "buffer": sneaker.read_bytes()},
    ])
    page.locator(".upload-item.done").nth(1).wait_for(timeout=60_000)
    page.locator(".upload-item.failed").wait_for()
    assert page.locator(".upload-item.done").count() == 2
    assert "notes.jpg is not an image" in page.locator(".upload-item.failed").inner_text()
    assert Photo.objects.count() == 2

    page.click("#to-gallery")
    page.locator("#photo-live[data-review-ready]").wait_for()
    page.locator(".photo-card").nth(1).wait_for()
    # The worker fills in the predictions; the gallery shows them without a reload.
    page.locator(".photo-card .predicted-class").nth(1).wait_for(timeout=120_000)
    assert set(Photo.objects.values_list("predicted_by", flat=True)) == {checkpoint.pk}

    card = page.locator(".photo-card").first
    photo_id = card.get_attribute("data-photo-id")
    card.focus()
    page.keyboard.press("3")  # Dress
    page.locator(f'.photo-card[data-photo-id="{photo_id}"][data-label="3"]').wait_for()
    assert "labelled Dress" in page.locator("#review-status").inner_text()

    page.reload()
    page.locator("#photo-live[data-review-ready]").wait_for()
    saved = page.locator(f'.photo-card[data-photo-id="{photo_id}"]')
    assert saved.get_attribute("data-label") == "3"
    assert saved.locator(".label-select").input_value() == "3"
    correction = LabelCorrection.objects.get()
    assert (correction.photo_id, correction.to_label, correction.user, correction.source) == (
        int(photo_id), 3, user, "keyboard")

    # Enter accepts the prediction of the next photo; u undoes the last change of this tab,
    # even after the reload.
    # (Live updates swap cards in place, so the order before the reload may differ from after.)
    other = page.locator(f'.photo-card:not([data-photo-id="{photo_id}"])')
    other_id, predicted = other.get_attribute("data-photo-id"), other.get_attribute("data-predicted")
    other.focus()
    page.keyboard.press("Enter")
    page.locator(f'.photo-card[data-photo-id="{other_id}"][data-label="{predicted}"]').wait_for()
    page.keyboard.press("u")
    page.locator(f'.photo-card[data-photo-id="{other_id}"][data-label=""]').wait_for()
    page.keyboard.press("u")
    page.locator(f'.photo-card[data-photo-id="{photo_id}"][data-label=""]').wait_for()
    assert list(Photo.objects.values_list("label", flat=True)) == [None, None]
    assert LabelCorrection.objects.count() == 4 and LabelCorrection.objects.filter(reverts__isnull=False).count() == 2


def test_files_picked_before_the_upload_script_loaded_still_go_up(page, live_server):
    """On a slow connection the file picker can be used before upload.js has run; the change
    event is lost then, but the files must not be."""
    sneaker = shared_photos() / "Rohith04MVK__Fashion-MNIST/sneaker_2.png"
    sign_in(page, live_server, UserFactory().username)
    held = []
    page.route("**/upload.js*", lambda route: held.append(route))  # held until the files are picked
    page.goto(f"{live_server.url}/photos/upload/", wait_until="commit")
    page.locator("#photo-input").wait_for(state="attached")
    page.set_input_files("#photo-input", [
        {"name": sneaker.name, "mimeType": "image/png", "buffer": sneaker.read_bytes()}])
    for _ in range(600):  # Playwright calls the route handler between our calls
        if held:
            break
        page.wait_for_timeout(50)
    assert held and Photo.objects.count() == 0
    held[0].continue_()
    page.locator(".upload-item.done").wait_for()
    assert Photo.objects.count() == 1
