"""`import_photos` and `export_photos`, round trip, on the team's product photos."""

import csv
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from classifier.models import JobStatus, LabelCorrection, Photo, PredictionJob
from classifier.services import photos as services
from tests.factories import TrainingRunFactory
from tests.photo_files import jpeg_bytes, shared_photos

pytestmark = pytest.mark.django_db


def _call(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _manifest_labels(manifest: Path) -> list[int]:
    with open(manifest, newline="") as f:
        return sorted(int(row["label_index"]) for row in csv.DictReader(f))


def test_import_a_manifest_then_export_and_import_again_round_trip(tmp_path, staff_user):
    manifest = shared_photos() / "manifest.csv"
    out, err = _call("import_photos", str(manifest), "--user", staff_user.username, "--no-predict")
    assert "imported 48 photos (48 labelled), refused 0" in out, err
    assert "importing: 100%" in err and "48/48" in err  # the progress bar
    assert sorted(Photo.objects.values_list("label", flat=True)) == _manifest_labels(manifest)
    assert LabelCorrection.objects.filter(user=staff_user, source="import manifest.csv").count() == 48
    assert set(Photo.objects.values_list("original_name", flat=True)) >= {"tshirt_top_1.jpg", "sandal_1.webp"}
    assert not PredictionJob.objects.exists()
    before = {p.label: [] for p in Photo.objects.all()}
    for p in Photo.objects.order_by("pk"):
        before[p.label].append(p.model_input_array())

    # Importing the same photos again adds nothing.
    out, err = _call("import_photos", str(manifest), "--no-predict")
    assert "imported 0 photos" in out and "already in the gallery" in err

    exported = tmp_path / "export"
    out, _ = _call("export_photos", str(exported))
    assert "exported 48 photos" in out
    with open(exported / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "label", "label_index"] and len(rows) == 48
    assert all((exported / row["file"]).is_file() and row["file"].startswith(row["label"] + "/") for row in rows)
    assert {row["label"] for row in rows} >= {"tshirt_top", "ankle_boot", "trouser"}

    # Into an empty gallery, from the class folders this time.
    services.photos_delete(photos=Photo.objects.all())
    out, err = _call("import_photos", str(exported), "--no-predict")
    assert "imported 48 photos (48 labelled)" in out, err
    assert sorted(Photo.objects.values_list("label", flat=True)) == _manifest_labels(manifest)
    # What the model sees is the same, up to JPEG's re-encoding of the stored originals (which
    # can move GrabCut's cut, and so the crop, by a pixel): the same silhouettes.
    differences, overlaps = [], []
    for label, arrays in before.items():
        again = [p.model_input_array() for p in Photo.objects.filter(label=label).order_by("pk")]
        differences += [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(arrays, again)]
        overlaps += [((a > 40) & (b > 40)).sum() / ((a > 40) | (b > 40)).sum() for a, b in zip(arrays, again)]
    assert len(differences) == 48 and np.median(differences) < 3 and min(overlaps) > 0.85


def test_export_only_labelled_and_unlabelled_photos_go_to_their_own_folder(tmp_path, plain_user):
    from tests.photo_files import upload

    labelled = services.photo_upload(file=upload(jpeg_bytes(), "a.jpg"), user=plain_user)
    services.photo_label_set(photo=labelled, label=9, user=plain_user)
    services.photo_upload(file=upload(jpeg_bytes(colour=(90, 0, 0)), "b.jpg"), user=plain_user)
    _call("export_photos", str(tmp_path / "all"))
    rows = list(csv.DictReader(open(tmp_path / "all" / "labels.csv")))
    assert sorted((r["label"], r["label_index"]) for r in rows) == [("", ""), ("ankle_boot", "9")]
    assert any(r["file"].startswith("unlabelled/") for r in rows)
    _call("export_photos", str(tmp_path / "some"), "--only-labelled")
    assert [r["file"].split("/")[0] for r in csv.DictReader(open(tmp_path / "some" / "labels.csv"))] == ["ankle_boot"]
    with pytest.raises(CommandError, match="not empty"):
        _call("export_photos", str(tmp_path / "some"))


def test_import_reports_what_it_refuses_and_queues_a_prediction(tmp_path, sent_tasks,
                                                                django_capture_on_commit_callbacks):
    run = TrainingRunFactory(status=JobStatus.SUCCEEDED)
    run.checkpoints.create(epoch=1, file="x.pt", size=1, sha256="x", val_acc=0.9, val_loss=0.3)
    (tmp_path / "Trousers").mkdir()
    (tmp_path / "Trousers" / "ok.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "Trousers" / "broken.jpg").write_bytes(b"definitely not a jpeg")
    (tmp_path / "hats").mkdir()
    (tmp_path / "hats" / "hat.jpg").write_bytes(jpeg_bytes(colour=(0, 0, 90)))
    with django_capture_on_commit_callbacks(execute=True):
        out, err = _call("import_photos", str(tmp_path))
    assert "imported 1 photos (1 labelled), refused 1, skipped 1" in out
    assert "Trousers/broken.jpg: broken.jpg is not an image" in err and "hats/" in err
    assert Photo.objects.get().label == 1 and "prediction job" in out and PredictionJob.objects.count() == 1


def test_import_needs_a_folder_or_a_manifest(tmp_path):
    with pytest.raises(CommandError, match="neither a folder"):
        _call("import_photos", str(tmp_path / "nothing-here"))
    with pytest.raises(CommandError, match="no user named"):
        _call("import_photos", str(tmp_path), "--user", "nobody")


def test_photos_of_an_older_preprocessing_version_are_made_again(plain_user):
    from tests.photo_files import upload

    photo = services.photo_upload(file=upload(jpeg_bytes(), "a.jpg"), user=plain_user)
    current = services.photo_upload(file=upload(jpeg_bytes(colour=(0, 0, 90)), "b.jpg"), user=plain_user)
    good = photo.model_input_array().copy()
    Photo.objects.filter(pk=photo.pk).update(model_input=bytes(784), preprocess_version=0, predicted_label=3,
                                             confidence=0.9)
    out, _ = _call("preprocess_photos", "--no-predict")
    assert "preprocessed 1 photos again" in out
    photo.refresh_from_db()
    assert photo.preprocess_version == current.preprocess_version
    assert np.abs(photo.model_input_array().astype(int) - good.astype(int)).mean() < 6
    assert photo.predicted_label is None and photo.confidence is None  # made from the old image


def test_a_photo_whose_original_is_gone_is_reported_and_the_others_are_remade(plain_user):
    from django.core.files.storage import default_storage

    from tests.photo_files import upload

    lost = services.photo_upload(file=upload(jpeg_bytes(), "a.jpg"), user=plain_user)
    kept = services.photo_upload(file=upload(jpeg_bytes(colour=(0, 0, 90)), "b.jpg"), user=plain_user)
    Photo.objects.update(preprocess_version=0)
    default_storage.delete(lost.original.name)
    out, err = _call("preprocess_photos", "--no-predict")
    assert "preprocessed 1 photos again" in out
    assert f"not remade: photo #{lost.pk}" in err
    assert Photo.objects.get(pk=kept.pk).preprocess_version > 0
    assert Photo.objects.get(pk=lost.pk).preprocess_version == 0  # kept what it had, to try again later
