"""On a phone-sized screen (390 px, touch) the upload page offers the back camera, fits without
scrolling sideways, and a photo taken goes through the same upload, refusal and prediction
path as a chosen file."""

import pytest

from classifier.models import Photo
from tests.browser.conftest import sign_in
from tests.checkpoints import saved_checkpoint
from tests.factories import UserFactory
from tests.photo_files import jpeg_bytes
from tests.workers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_a_photo_taken_on_a_phone_is_uploaded_refused_or_predicted_like_any(phone, live_server, worker, tmp_path):
    checkpoint = saved_checkpoint(preset="seed")
    user = UserFactory()
    sign_in(phone, live_server, user.username)
    phone.goto(f"{live_server.url}/photos/upload/")
    phone.locator("#upload-form[data-ready]").wait_for()
    camera = phone.locator("#camera-input")
    assert camera.get_attribute("capture") == "environment" and camera.get_attribute("accept") == "image/*"
    assert phone.locator("label.camera").is_visible()
    # Usable at 390 px: nothing wider than the screen, and the camera's button inside it.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = phone.locator("label.camera").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390

    camera.set_input_files([{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes()}])
    phone.locator(".upload-item.done").wait_for(timeout=60_000)
    camera.set_input_files([{"name": "IMG_0002.jpg", "mimeType": "image/jpeg", "buffer": b"half a photo"}])
    phone.locator(".upload-item.failed").wait_for()
    assert "IMG_0002.jpg is not an image" in phone.locator(".upload-item.failed").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390

    photo = Photo.objects.get()
    assert photo.original_name == "IMG_0001.jpg" and photo.uploaded_by == user
    predicted = wait_for(lambda: Photo.objects.filter(pk=photo.pk, predicted_by=checkpoint).first(), timeout=120,
                         message=f"its prediction; worker log:\n{worker.log()}")
    assert predicted.predicted_label is not None
    phone.screenshot(path=str(tmp_path / "upload-390.png"), full_page=True)
