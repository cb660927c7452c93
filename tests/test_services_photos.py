"""Uploading photos: what is refused (each with its own message), what is stored, and that a
failure leaves nothing half-saved."""

from pathlib import Path

import pytest
from django.db import IntegrityError
from PIL import Image

from classifier.models import JobStatus, Photo, PredictionJob, PredictionScope
from classifier.services import photos as services
from dataset.photos import PREPROCESS_VERSION
from tests.factories import TrainingRunFactory
from tests.photo_files import encoded, item_on_white, jpeg_bytes, png_bytes, png_claiming, upload

pytestmark = pytest.mark.django_db


def _stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_photo_is_stored_with_its_thumbnail_and_what_the_model_sees(settings, plain_user):
    photo = services.photo_upload(file=upload(jpeg_bytes(), "My Shirt.JPG"), user=plain_user)
    assert photo.original_name == "My Shirt.JPG" and photo.uploaded_by == plain_user
    assert (photo.width, photo.height) == (120, 160) and photo.preprocess_version == PREPROCESS_VERSION
    # Server-chosen random names, nothing of the uploader's.
    assert "Shirt" not in photo.original.name and photo.original.name.endswith(".jpg")
    assert len(_stored_files(settings)) == 2
    with Image.open(photo.thumbnail.path) as thumb:
        assert max(thumb.size) <= services.THUMBNAIL_SIDE
    seen = photo.model_input_array()
    assert seen.shape == (28, 28) and seen[14, 14] > 150 and seen[:, :3].max() < 20
    assert not photo.is_predicted and photo.label is None


def test_metadata_is_stripped_and_the_orientation_applied(plain_user):
    sideways = item_on_white(size=(200, 300), box=(70, 30, 130, 270)).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to display
    exif[0x010F] = "PhoneMaker"  # camera make: nobody's business once uploaded
    photo = services.photo_upload(file=upload(encoded(sideways, "JPEG", exif=exif.tobytes())), user=plain_user)
    with Image.open(photo.original.path) as stored:
        assert stored.size == (200, 300)  # upright
        assert not stored.getexif() and "exif" not in stored.info


def test_transparency_is_kept_in_a_png(plain_user):
    image = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (10, 10, 50, 50))
    photo = services.photo_upload(file=upload(encoded(image, "PNG"), "cut-out.png"), user=plain_user)
    assert photo.original.name.endswith(".png")
    with Image.open(photo.original.path) as stored:
        assert stored.mode == "RGBA" and stored.getpixel((0, 0))[3] == 0


def test_webp_is_accepted(plain_user):
    photo = services.photo_upload(file=upload(encoded(item_on_white(), "WEBP"), "a.webp"), user=plain_user)
    assert photo.original.name.endswith(".jpg")


@pytest.mark.parametrize("data, name, message", [
    (b"just some text, not a picture", "notes.jpg", "is not an image"),
    (b"", "empty.png", "is empty"),
    (encoded(item_on_white(), "GIF"), "anim.gif", "is a GIF image; only JPEG, PNG or WebP"),
    (jpeg_bytes()[:400], "cut.jpg", "is truncated"),
    (png_bytes()[:300], "cut.png", "is truncated"),
    (png_claiming(7000, 7000), "big.png", "too many pixels: 7000×7000 is 49.0 megapixels, the limit is 40"),
    (png_claiming(10_000, 10_000), "bomb.png", "too many pixels"),  # Pillow warns: an error here
    (png_claiming(60_000, 60_000), "bomb2.png", "too many pixels"),  # Pillow refuses
], ids=["not-an-image", "empty", "gif", "truncated-jpeg", "truncated-png", "too-many-pixels",
        "decompression-bomb-warning", "decompression-bomb-error"])
def test_bad_files_are_refused_with_their_own_message(settings, plain_user, data, name, message):
    with pytest.raises(services.PhotoRejected, match=message):
        services.photo_upload(file=upload(data, name), user=plain_user)
    assert not Photo.objects.exists() and _stored_files(settings) == []


def test_too_many_bytes_are_refused_before_decoding(settings, plain_user):
    settings.PHOTO_MAX_BYTES = 1000
    data = jpeg_bytes(size=(400, 400))
    assert len(data) > 1000
    with pytest.raises(services.PhotoRejected, match=r"is too large: 0\.0 MB, the limit is 0 MB|is too large"):
        services.photo_upload(file=upload(data), user=plain_user)
    assert not Photo.objects.exists() and _stored_files(settings) == []


def test_the_pixel_limit_is_a_setting(settings, plain_user):
    settings.PHOTO_MAX_PIXELS = 10_000
    with pytest.raises(services.PhotoRejected, match="120×160 is 0.0 megapixels"):
        services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)


def test_a_bad_file_does_not_stop_the_rest_of_a_batch(plain_user):
    batch = [upload(jpeg_bytes(), "a.jpg"), upload(b"nope", "b.jpg"),
             upload(png_bytes(colour=(200, 0, 0)), "c.png"), upload(jpeg_bytes()[:500], "d.jpg")]
    outcomes = []
    for file in batch:
        try:
            outcomes.append(services.photo_upload(file=file, user=plain_user).original_name)
        except services.PhotoRejected as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == "a.jpg" and outcomes[2] == "c.png"
    assert "not an image" in outcomes[1] and "truncated" in outcomes[3]
    assert Photo.objects.count() == 2


def test_the_same_photo_twice_is_refused_as_a_duplicate(plain_user):
    first = services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)
    with pytest.raises(services.PhotoRejected, match=f"already in the gallery as photo #{first.pk}") as info:
        services.photo_upload(file=upload(jpeg_bytes(), "again.jpg"), user=plain_user)
    assert info.value.existing == first
    # Its stored (re-encoded) file, as export_photos writes it, is known too.
    with pytest.raises(services.PhotoRejected, match="already in the gallery"):
        services.photo_upload(file=upload(Path(first.original.path).read_bytes()), user=plain_user)


def test_nothing_is_half_saved_when_the_row_cannot_be_written(settings, plain_user, monkeypatch):
    def broken_create(**kwargs):
        raise IntegrityError("disk full, say")

    monkeypatch.setattr(Photo.objects, "create", broken_create)
    with pytest.raises(IntegrityError):
        services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)
    assert not Photo.objects.exists() and _stored_files(settings) == []


def test_nothing_is_half_saved_when_a_file_cannot_be_written(settings, plain_user, monkeypatch):
    from django.core.files.storage import default_storage

    real_save = default_storage.save

    def save_then_fail(name, content, **kwargs):
        if "thumb" in name:
            raise OSError("no space left on device")
        return real_save(name, content, **kwargs)

    monkeypatch.setattr(default_storage, "save", save_then_fail)
    with pytest.raises(OSError):
        services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)
    assert not Photo.objects.exists() and _stored_files(settings) == []


def test_the_display_name_is_sanitised():
    assert services.display_name("../../etc/passwd") == "passwd"
    assert services.display_name("C:\\Users\\me\\IMG_0001.JPG") == "IMG_0001.JPG"
    assert services.display_name("a\x00b\n c.png") == "ab c.png"
    assert len(services.display_name("x" * 500 + ".jpg")) == 200


def test_new_photos_are_queued_for_prediction_once_a_checkpoint_exists(plain_user, sent_tasks,
                                                                       django_capture_on_commit_callbacks):
    assert services.photos_predict_new(user=plain_user) is None  # no model yet: nothing to queue
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    best = run.checkpoints.create(epoch=2, file="run-1/epoch-002.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    run.checkpoints.create(epoch=1, file="run-1/epoch-001.pt", size=1, sha256="y", val_acc=0.8, val_loss=0.4)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.photos_predict_new(user=plain_user)
    # A job that has not started yet will see later photos too: no second job.
    assert services.photos_predict_new(user=plain_user) == job
    assert job.checkpoint == best and job.scope == PredictionScope.UNPREDICTED
    assert sent_tasks == [("worker.tasks.predict_photos", job.pk)]
    PredictionJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    assert services.photos_predict_new(user=plain_user) != job  # that one has chosen its photos


def test_uploads_are_never_attached_to_a_prediction_job_whose_message_was_lost(plain_user, sent_tasks, settings):
    """Measured on a fresh clone: after Redis lost its queue, every later upload joined the same
    dead job and none was predicted. A job not claimed long after it was sent is not joined."""
    from datetime import timedelta

    from django.utils import timezone

    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    run.checkpoints.create(epoch=1, file="run-1/epoch-001.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    lost = services.photos_predict_new(user=plain_user)
    PredictionJob.objects.filter(pk=lost.pk).update(
        sent_at=timezone.now() - timedelta(seconds=settings.JOB_RESEND_AFTER_S + 1), sends=1)
    assert services.photos_predict_new(user=plain_user) != lost


def test_only_staff_predict_all_photos_again(plain_user, staff_user, sent_tasks):
    from django.core.exceptions import PermissionDenied

    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    checkpoint = run.checkpoints.create(epoch=1, file="x.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    with pytest.raises(PermissionDenied):
        services.photos_predict(scope=PredictionScope.ALL, checkpoint=checkpoint, user=plain_user)
    job = services.photos_predict(scope=PredictionScope.ALL, checkpoint=checkpoint, user=staff_user)
    assert job.status == JobStatus.QUEUED and job.requested_by == staff_user
