"""Outside labelled sets (a folder of class folders, a CSV manifest) and the gallery's labelled
photos, as the EvalSets an evaluation report scores."""

import csv

import numpy as np
import pytest

from classifier.models import Photo
from classifier.selectors.photos import photo_sample_image_url, photos_eval_set
from classifier.services import photos as services
from dataset import photo_sets
from dataset.eval_sets import fingerprint_of
from dataset.photos import open_photo, plain_preprocess, preprocess
from tests.photo_files import jpeg_bytes, png_bytes, shared_photos, upload


@pytest.mark.parametrize("name, index", [
    ("T-shirt/top", 0), ("tshirt_top", 0), ("t-shirt", 0), ("Tee", 0), ("trousers", 1), ("pants", 1),
    ("Jeans", 1), ("pullover", 2), ("dress", 3), ("Dresses", 3), ("outwear", 4), ("coat", 4), ("sandals", 5),
    ("shirt", 6), ("Sneakers", 7), ("bag", 8), ("ankle_boot", 9), ("Ankle boots", 9), ("7", 7),
])
def test_class_names_are_matched_leniently(name, index):
    assert photo_sets.class_index(name) == index


@pytest.mark.parametrize("name", ["hats", "shoe", "", "12", "unlabelled"])
def test_names_that_mean_no_class_match_none(name):
    assert photo_sets.class_index(name) is None


def test_export_folder_names_read_back_as_their_class():
    for index in range(10):
        assert photo_sets.class_index(photo_sets.class_slug(index)) == index


def test_the_product_manifest_loads_as_an_eval_set():
    manifest = shared_photos() / "manifest.csv"
    skipped = []
    eval_set = photo_sets.load_labelled_set(manifest, skipped=skipped)
    rows = list(csv.DictReader(open(manifest)))
    assert skipped == [] and len(eval_set) == 48 == len(rows)
    assert eval_set.images.shape == (48, 28, 28) and eval_set.images.dtype == np.uint8
    assert eval_set.labels.tolist() == [int(r["label_index"]) for r in rows]
    assert eval_set.sample_keys == [r["file"] for r in rows]
    assert eval_set.name == str(manifest) and eval_set.fingerprint == fingerprint_of(eval_set.images, eval_set.labels)
    # Preprocessed exactly as an upload is.
    first = shared_photos() / rows[0]["file"]
    assert np.array_equal(eval_set.images[0], preprocess(open_photo(first)))


def test_a_folder_of_class_folders_loads_and_broken_files_are_skipped(tmp_path):
    (tmp_path / "Trousers").mkdir()
    (tmp_path / "Trousers" / "a.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "Trousers" / "nested").mkdir()
    (tmp_path / "Trousers" / "nested" / "b.png").write_bytes(png_bytes())
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "broken.jpg").write_bytes(jpeg_bytes()[:300])
    (tmp_path / "bag" / "notes.txt").write_text("not a photo and not listed")
    (tmp_path / "hats").mkdir()
    skipped = []
    eval_set = photo_sets.load_labelled_set(tmp_path, skipped=skipped)
    assert eval_set.sample_keys == ["Trousers/a.jpg", "Trousers/nested/b.png"] and eval_set.labels.tolist() == [1, 1]
    assert [(s.key, "truncated" in s.reason or "name" in s.reason) for s in skipped] == [
        ("hats/", True), ("bag/broken.jpg", True)]


def test_a_manifest_with_names_instead_of_indices_and_bad_rows(tmp_path):
    (tmp_path / "x.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "y.jpg").write_bytes(jpeg_bytes(colour=(0, 0, 120)))
    (tmp_path / "m.csv").write_text("file,label\nx.jpg,Sneaker\ny.jpg,hat\nmissing.jpg,bag\nx.jpg,\n")
    skipped = []
    eval_set = photo_sets.load_labelled_set(tmp_path / "m.csv", skipped=skipped, transform=plain_preprocess)
    assert eval_set.labels.tolist() == [7] and eval_set.sample_keys == ["x.jpg"]
    assert [s.key for s in skipped] == ["y.jpg", "missing.jpg", "x.jpg"]
    with pytest.raises(ValueError, match="no 'file' column"):
        (tmp_path / "bad.csv").write_text("path,label\n")
        photo_sets.load_labelled_set(tmp_path / "bad.csv")


def test_the_held_out_labelled_photos_are_an_eval_set_keyed_by_photo_id(db, plain_user):
    a = services.photo_upload(file=upload(jpeg_bytes()), user=plain_user)
    b = services.photo_upload(file=upload(png_bytes(colour=(150, 0, 0))), user=plain_user)
    services.photo_upload(file=upload(jpeg_bytes(colour=(0, 90, 0))), user=plain_user)  # unlabelled: left out
    trained_on = services.photo_upload(file=upload(jpeg_bytes(colour=(0, 0, 90))), user=plain_user)
    Photo.objects.filter(pk__in=[a.pk, b.pk]).update(held_out=True)
    Photo.objects.filter(pk=trained_on.pk).update(held_out=False)  # the train part: left out
    services.photo_label_set(photo=b, label=8, user=plain_user)
    services.photo_label_set(photo=a, label=3, user=plain_user)
    services.photo_label_set(photo=Photo.objects.get(pk=trained_on.pk), label=1, user=plain_user)
    eval_set = photos_eval_set()
    assert eval_set.name == "photos" and eval_set.sample_keys == [str(a.pk), str(b.pk)]
    assert eval_set.labels.tolist() == [3, 8]
    assert np.array_equal(eval_set.images[1], b.model_input_array())
    assert photo_sample_image_url(str(a.pk)) == f"/photos/{a.pk}/model-input.png"


def test_no_labelled_photos_is_an_empty_eval_set(db):
    eval_set = photos_eval_set()
    assert len(eval_set) == 0 and eval_set.images.shape == (0, 28, 28)
