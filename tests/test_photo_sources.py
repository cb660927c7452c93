"""Where photos come from: batches, sources and tags recorded on upload and import, the
gallery's filters on them, and the sources a fine-tune's photo draws are balanced over."""

import csv
from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from classifier.models import Photo, PhotoBatch, PhotoBatchKind
from classifier.services import photos as services
from tests.factories import PhotoFactory, TrainingRunFactory
from tests.photo_files import encoded, item_on_white, upload

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def no_enqueue(sent_tasks):
    return sent_tasks


def _jpeg(shade: int) -> bytes:
    """A different photo for each shade (uploads of the same bytes are refused as duplicates)."""
    return encoded(item_on_white(colour=(shade, shade, shade)), "JPEG", quality=90)


def test_one_visit_to_the_upload_page_is_one_batch_with_its_source_and_tags(user_client, plain_user):
    page = user_client.get(reverse("photo_upload"))
    key = page.context["batch_key"]
    for shade in (10, 40):
        response = user_client.post(reverse("photo_upload_file"), {
            "photo": upload(_jpeg(shade)), "batch": key, "source": "  Corner  shop ", "tags": "Worn, low light,worn"},
            **JSON)
        assert response.status_code == 201, response.json()
    other_visit = user_client.get(reverse("photo_upload")).context["batch_key"]
    assert other_visit != key
    user_client.post(reverse("photo_upload_file"), {"photo": upload(_jpeg(70)), "batch": other_visit}, **JSON)

    first, second, third = Photo.objects.order_by("pk")
    assert first.batch == second.batch != third.batch
    assert first.batch.kind == PhotoBatchKind.UPLOAD and first.batch.created_by == plain_user
    assert first.source == second.source == "Corner shop" and third.source == ""
    assert sorted(first.tags.values_list("name", flat=True)) == ["low light", "worn"]
    assert not third.tags.exists()


def test_a_tag_too_long_refuses_the_upload_with_a_message_and_stores_nothing(user_client):
    response = user_client.post(reverse("photo_upload_file"), {"photo": upload(_jpeg(10)), "tags": "x" * 51}, **JSON)
    assert response.status_code == 400 and "at most 50 characters" in response.json()["error"]
    response = user_client.post(reverse("photo_upload"), {"photo": [upload(_jpeg(20))], "tags": "y" * 60})
    assert "at most 50 characters" in response.content.decode()
    assert not Photo.objects.exists()


def test_someone_elses_batch_key_never_joins_their_batch(client, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    a = services.photo_batch_for_upload(key="0123456789abcdef", user=alice)
    b = services.photo_batch_for_upload(key="0123456789abcdef", user=bob)
    assert a != b and services.photo_batch_for_upload(key="0123456789abcdef", user=alice) == a
    assert services.photo_batch_for_upload(key="../bad key", user=alice) not in (a, b)


def test_import_records_the_manifest_each_rows_source_and_the_tags(tmp_path, staff_user):
    rows = [("shop-a/1.jpg", 0, "shop A"), ("shop-a/2.jpg", 1, "shop A"), ("home/3.jpg", 2, "")]
    for (name, _, _), shade in zip(rows, (10, 50, 90)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(_jpeg(shade))
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label_index", "source_repo"])
        writer.writerows(rows)
    out = StringIO()
    call_command("import_photos", str(manifest), "--user", staff_user.username, "--no-predict",
                 "--source", "our homes", "--tag", "Mannequin", "--tag", "catalogue", stdout=out)

    batch = PhotoBatch.objects.get()
    assert f"batch {batch.pk}" in out.getvalue()
    assert batch.kind == PhotoBatchKind.IMPORT and batch.name == str(manifest) and batch.created_by == staff_user
    photos = {p.original_name: p for p in Photo.objects.all()}
    assert {name: p.source for name, p in photos.items()} == {"1.jpg": "shop A", "2.jpg": "shop A", "3.jpg": "our homes"}
    assert all(sorted(p.tags.values_list("name", flat=True)) == ["catalogue", "mannequin"] for p in photos.values())
    assert all(p.batch == batch for p in photos.values())


def test_the_gallery_filters_by_source_tag_and_batch(user_client):
    shop = PhotoFactory(source="shop A", original_name="shop.jpg")
    home = PhotoFactory(source="home", original_name="home.jpg")
    nowhere = PhotoFactory(source="", original_name="nowhere.jpg")
    services.photo_tags_set(photo=home, tags=["worn"])
    batch = services.photo_batch_for_import(name="x.csv", user=None)
    Photo.objects.filter(pk=shop.pk).update(batch=batch)

    def shown(**query) -> set[int]:
        response = user_client.get(reverse("photo_gallery"), query)
        assert response.status_code == 200
        return {p.pk for p in response.context["photos"]}

    assert shown() == {shop.pk, home.pk, nowhere.pk}
    assert shown(source="shop A") == {shop.pk}
    assert shown(source="-") == {nowhere.pk}  # the photos nobody gave a source
    assert shown(tag="worn") == {home.pk}
    assert shown(batch=str(batch.pk)) == {shop.pk}
    page = user_client.get(reverse("photo_gallery")).content.decode()
    assert 'value="shop A"' in page and ">worn<" in page


def test_tags_are_set_on_the_photo_page_and_a_bad_one_says_why(user_client):
    photo = PhotoFactory(source="shop A")
    response = user_client.post(reverse("photo_tags", args=[photo.pk]), {"tags": "price tag, Worn"}, **JSON)
    assert response.json() == {"ok": True, "id": photo.pk, "tags": ["price tag", "worn"]}
    page = user_client.get(reverse("photo_detail", args=[photo.pk])).content.decode()
    assert "shop A" in page and "price tag, worn" in page
    response = user_client.post(reverse("photo_tags", args=[photo.pk]), {"tags": "z" * 80}, **JSON)
    assert response.status_code == 400 and "at most 50" in response.json()["error"]
    assert sorted(photo.tags.values_list("name", flat=True)) == ["price tag", "worn"]  # kept
    with pytest.raises(ValidationError):
        services.parse_tags(["ok", "w" * 51])


def test_a_finetune_draws_its_photos_balanced_over_their_sources():
    from engine.config import TrainConfig
    from worker.training_job import snapshot_photos

    photos = [PhotoFactory(source=s, label=0, held_out=False) for s in ["home"] * 3 + ["shop A"]]
    run = TrainingRunFactory(photo_snapshot=[[p.pk, 0] for p in photos])
    extra = snapshot_photos(run, TrainConfig.for_preset("fast", with_photos=True, epochs=1, photo_balance="class+source"))
    assert extra.balance == "class+source" and list(extra.groups) == ["home", "home", "home", "shop A"]
    assert extra.labels.tolist() == [0, 0, 0, 0] and extra.images.shape == (4, 28, 28)
    assert np.isclose(extra.weight, 0.5)
