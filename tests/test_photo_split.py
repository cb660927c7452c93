import hashlib

from classifier.models import Photo
from classifier.services import photos as photo_services
from dataset.photo_split import HELD_OUT_SHARE, is_held_out
from tests.photo_files import jpeg_bytes, upload


def test_the_split_is_deterministic_and_about_thirty_percent_held_out():
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    first = [is_held_out(h) for h in hashes]
    assert first == [is_held_out(h) for h in hashes]
    assert abs(sum(first) / len(first) - HELD_OUT_SHARE) < 0.03


def test_an_upload_gets_its_part_from_its_bytes(db, plain_user):
    # Twelve different items (shapes and places): shades of one rectangle would be near-duplicates,
    # which share a side (tests/test_near_duplicates.py).
    for i in range(12):
        box = (5 + 7 * (i % 4), 5 + 9 * (i // 4), 60 + 13 * (i % 3), 70 + 25 * (i % 4))
        photo = photo_services.photo_upload(file=upload(jpeg_bytes(box=box, colour=(i * 20, 0, 0))), user=plain_user)
        assert photo.duplicate_group is None
        assert photo.held_out == is_held_out(photo.sha256)
    parts = set(Photo.objects.values_list("held_out", flat=True))
    assert parts == {True, False}  # these twelve photos (the same bytes every run) land in both parts


def test_the_gallery_filters_by_part(user_client, plain_user):
    photos = [photo_services.photo_upload(file=upload(jpeg_bytes(colour=(0, i * 30, 0))), user=plain_user)
              for i in range(2)]
    Photo.objects.filter(pk=photos[0].pk).update(held_out=True)
    Photo.objects.filter(pk=photos[1].pk).update(held_out=False)
    page = user_client.get("/photos/", {"split": "held-out"}).content.decode()
    assert f'data-photo-id="{photos[0].pk}"' in page and f'data-photo-id="{photos[1].pk}"' not in page
    page = user_client.get("/photos/", {"split": "train"}).content.decode()
    assert f'data-photo-id="{photos[1].pk}"' in page and f'data-photo-id="{photos[0].pk}"' not in page
