"""Near-duplicate photos: grouped, and a group on one side of the train/held-out split."""

import io
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from classifier.models import Photo
from classifier.services import photos as photo_services
from dataset import near_duplicates
from dataset.photo_split import is_held_out
from tests.photo_files import encoded, shared_photos, upload


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return encoded(image.convert("RGB"), "JPEG", quality=quality)


def _team_photo(name: str) -> Image.Image:
    path = next(shared_photos().rglob(name))
    return Image.open(path).convert("RGB")


def _copies(image: Image.Image) -> dict[str, bytes]:
    """What people do to a photo before sending it again: shrink it, recompress it, crop its edges."""
    w, h = image.size
    return {
        "resized": _jpeg(image.resize((w // 2, h // 2)), 85),
        "recompressed": _jpeg(image, 40),
        "cropped": _jpeg(image.crop((w * 3 // 100, h * 3 // 100, w - w * 3 // 100, h - h * 3 // 100))),
    }


def _signature(data: bytes) -> np.ndarray:
    return near_duplicates.signature(Image.open(io.BytesIO(data)))


def test_a_resized_recompressed_or_cropped_copy_is_near_its_original_and_another_item_is_not():
    original = _team_photo("tshirt_top_1.jpg")
    base = near_duplicates.signature(original)
    for how, data in _copies(original).items():
        distance = near_duplicates.distances(_signature(data), base[None])[0]
        assert distance < near_duplicates.DUPLICATE_DISTANCE, (how, distance)
    for other in ("trouser_1.jpg", "dress_1.jpg", "sandal_1.webp"):
        distance = near_duplicates.distances(near_duplicates.signature(_team_photo(other)), base[None])[0]
        assert distance > 2 * near_duplicates.DUPLICATE_DISTANCE, (other, distance)


def test_grouping_is_transitive_and_named_by_the_first_photo():
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 255, (60, 40, 3), dtype=np.uint8)).resize((120, 160))
    b = Image.fromarray(rng.integers(0, 255, (60, 40, 3), dtype=np.uint8)).resize((120, 160))
    sigs = np.stack([near_duplicates.signature(x) for x in (b, a, _open(_jpeg(a, 50)), _open(_jpeg(b, 60)), a.resize((60, 80)))])
    assert near_duplicates.group(sigs) == [0, 1, 1, 0, 1]


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.django_db
def test_uploaded_copies_join_their_originals_group_and_side_and_another_item_does_not(plain_user):
    original = _team_photo("tshirt_top_1.jpg")
    first = photo_services.photo_upload(file=upload(_jpeg(original, 92), "original.jpg"), user=plain_user)
    copies = {how: photo_services.photo_upload(file=upload(data, f"{how}.jpg"), user=plain_user)
              for how, data in _copies(original).items()}
    other = photo_services.photo_upload(file=upload(_jpeg(_team_photo("trouser_1.jpg")), "trouser.jpg"),
                                        user=plain_user)
    first.refresh_from_db()
    assert first.duplicate_group == first.pk
    for how, copy in copies.items():
        assert (copy.duplicate_group, copy.held_out) == (first.pk, first.held_out), how
    assert other.duplicate_group is None and other.held_out == is_held_out(other.sha256)
    # The test means something only if the bytes alone would have split the group.
    assert any(is_held_out(copy.sha256) != first.held_out for copy in copies.values())


@pytest.mark.django_db
def test_regrouping_puts_a_split_group_on_its_first_photos_side(plain_user):
    original = _team_photo("dress_1.jpg")
    first = photo_services.photo_upload(file=upload(_jpeg(original, 92)), user=plain_user)
    copies = [photo_services.photo_upload(file=upload(data), user=plain_user) for data in _copies(original).values()]
    loner = photo_services.photo_upload(file=upload(_jpeg(_team_photo("sandal_1.webp"))), user=plain_user)
    # As a database from before grouping has them: no signatures, sides from the bytes alone.
    for photo in [first, *copies, loner]:
        Photo.objects.filter(pk=photo.pk).update(signature=None, duplicate_group=None,
                                                 held_out=is_held_out(photo.sha256))
    mixed = {is_held_out(p.sha256) for p in [first, *copies]}
    assert mixed == {True, False}

    out = StringIO()
    call_command("group_photos", stdout=out)
    rows = {p.pk: (p.duplicate_group, p.held_out) for p in Photo.objects.all()}
    assert all(rows[c.pk] == (first.pk, is_held_out(first.sha256)) for c in [first, *copies])
    assert rows[loner.pk] == (None, is_held_out(loner.sha256))
    moved = [c for c in copies if is_held_out(c.sha256) != is_held_out(first.sha256)]
    assert f"1 groups of near-duplicates (4 photos); {len(moved)} photos moved" in out.getvalue()
    assert Photo.objects.exclude(signature=None).count() == 5
