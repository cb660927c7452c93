"""Reports on real photos: the held-out labelled photos in the database, and an outside folder
or manifest on disk, through `manage.py evaluate` and the report pages."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from classifier.models import EvaluationReport, JobStatus, Photo
from classifier.services import photos as photo_services
from tests.factories import real_checkpoint
from tests.photo_files import jpeg_bytes, png_bytes, shared_photos, upload


def _evaluate(*args) -> str:
    out = StringIO()
    call_command("evaluate", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_evaluate_on_photos_scores_only_the_held_out_labelled_ones(db, trained_weights, plain_user, tmp_path,
                                                                  client):
    checkpoint = real_checkpoint(trained_weights)
    photos = [photo_services.photo_upload(file=upload(jpeg_bytes(colour=(10 * i, 0, 0)), f"p{i}.jpg"), user=plain_user)
              for i in range(4)]
    Photo.objects.filter(pk__in=[p.pk for p in photos[:3]]).update(held_out=True)
    Photo.objects.filter(pk=photos[3].pk).update(held_out=False)
    for photo, label in zip(photos, (0, 1, 3, 6)):
        photo_services.photo_label_set(photo=Photo.objects.get(pk=photo.pk), label=label, user=plain_user)

    out = _evaluate("--checkpoint", str(checkpoint.pk), "--dataset", "photos", "--json", str(tmp_path / "p.json"))
    report = EvaluationReport.objects.get()
    assert report.status == JobStatus.SUCCEEDED and report.n_samples == 3
    assert report.sample_keys == [str(p.pk) for p in photos[:3]]
    assert json.loads((tmp_path / "p.json").read_text())["n"] == 3 and "(3 images)" in out
    client.force_login(plain_user)
    page = client.get(reverse("report_detail", args=[report.pk])).content.decode()
    assert "held-out" in page and f"/photos/{photos[0].pk}/model-input.png" in page


def test_evaluate_on_photos_with_none_held_out_says_so(db, trained_weights, plain_user):
    checkpoint = real_checkpoint(trained_weights)
    with pytest.raises(CommandError, match="no held-out labelled photos"):
        _evaluate("--checkpoint", str(checkpoint.pk), "--dataset", "photos")


def test_evaluate_scores_an_outside_manifest_and_the_page_shows_its_images(db, trained_weights, client,
                                                                        staff_user):
    manifest = shared_photos() / "manifest.csv"
    checkpoint = real_checkpoint(trained_weights)
    _evaluate("--checkpoint", str(checkpoint.pk), "--dataset", str(manifest))
    report = EvaluationReport.objects.get()
    assert report.status == JobStatus.SUCCEEDED, report.error
    assert report.dataset_name == str(manifest.resolve()) and report.n_samples == 48
    assert [sum(row) for row in report.confusion_matrix] == [15, 7, 2, 3, 2, 3, 4, 3, 5, 4]
    client.force_login(staff_user)
    page = client.get(reverse("report_detail", args=[report.pk])).content.decode()
    # The mistakes are shown with the photos as the model saw them, served from the manifest's files.
    shown = re.findall(rf"/reports/{report.pk}/samples/(\d+)\.png", page)
    assert shown and all(0 <= int(index) < 48 for index in shown)
    image_url = reverse("report_sample_image", args=[report.pk, int(shown[0])])
    response = client.get(image_url)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert client.get(reverse("report_sample_image", args=[report.pk, 48])).status_code == 404


def test_evaluate_on_a_class_folder_given_as_a_relative_path(db, trained_weights, tmp_path, monkeypatch):
    for name, data in (("trouser/a.png", png_bytes()), ("Bag/b.jpg", jpeg_bytes())):
        (tmp_path / "set" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "set" / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    _evaluate("--checkpoint", str(real_checkpoint(trained_weights).pk), "--dataset", "set")
    report = EvaluationReport.objects.get()
    assert report.dataset_name == str(tmp_path / "set") and report.n_samples == 2
    assert sorted(report.sample_keys) == ["Bag/b.jpg", "trouser/a.png"]


def test_a_page_cannot_name_a_path_on_the_server(staff_client, settings):
    from tests.factories import CheckpointFactory

    checkpoint = CheckpointFactory()
    response = staff_client.post(reverse("checkpoint_evaluate", args=[checkpoint.pk]), {"dataset": "/etc"},
                                 follow=True)
    assert "unknown dataset" in response.content.decode() and not EvaluationReport.objects.exists()


def test_evaluate_filters_a_manifest_by_a_column(db, trained_weights, tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes())
    (tmp_path / "b.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "m.csv").write_text("file,label_index,split\na.png,1,train\nb.jpg,8,validation\n")
    checkpoint = real_checkpoint(trained_weights)
    _evaluate("--checkpoint", str(checkpoint.pk), "--dataset", str(tmp_path / "m.csv"), "--where", "split=validation")
    report = EvaluationReport.objects.get()
    assert report.dataset_name == f"{tmp_path / 'm.csv'}?split=validation"
    assert report.n_samples == 1 and report.sample_keys == ["b.jpg"]
    with pytest.raises(CommandError, match="COLUMN=VALUE"):
        _evaluate("--checkpoint", str(checkpoint.pk), "--dataset", str(tmp_path / "m.csv"), "--where", "split")
