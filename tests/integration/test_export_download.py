"""The checkpoint page's export: a real worker writes the bundle's zip once, the web serves it."""

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from classifier.selectors.exports import export_storage_name
from tests.factories import CheckpointFactory, UserFactory, real_checkpoint

pytestmark = pytest.mark.integration


def test_the_active_models_bundle_downloads_as_a_zip_made_once(trained_weights, worker):
    checkpoint = real_checkpoint(trained_weights)
    client = Client()
    client.force_login(UserFactory())
    page = client.get(reverse("checkpoint_detail", args=[checkpoint.pk])).content.decode()
    assert reverse("checkpoint_export", args=[checkpoint.pk]) in page
    response = client.get(reverse("checkpoint_export", args=[checkpoint.pk]))
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    assert f'fmnist-checkpoint-{checkpoint.pk}.zip' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    top = f"fmnist-checkpoint-{checkpoint.pk}"
    assert {f"{top}/{name}" for name in ("model.onnx", "metadata.json", "predict.py", "photos.py",
                                         "requirements.txt")} <= set(archive.namelist())
    metadata = json.loads(archive.read(f"{top}/metadata.json"))
    assert metadata["checkpoint"] == checkpoint.pk and metadata["checkpoint_sha256"] == checkpoint.sha256
    # Kept: the next download is served from storage without asking a worker.
    assert default_storage.exists(export_storage_name(checkpoint=checkpoint))


def test_only_staff_export_a_checkpoint_that_is_not_the_active_model(trained_weights, worker):
    experiment = real_checkpoint(trained_weights)
    CheckpointFactory()  # a newer run's: the model that predicts
    client = Client()
    client.force_login(UserFactory())
    assert client.get(reverse("checkpoint_export", args=[experiment.pk])).status_code == 403
