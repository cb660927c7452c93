"""Web and workers that share no disk: with the AWS_* settings every stored file (photos,
thumbnails, checkpoints) lives in the bucket, here a real S3 protocol server on loopback
(moto's). A real worker process, with local folders of its own, trains, evaluates and
predicts; the web side, with other folders, takes uploads and serves downloads; an export is
made by a worker into the bucket and downloaded from it."""

from __future__ import annotations

import hashlib
import io
import zipfile
from functools import partial
from pathlib import Path

import pytest
from django.urls import reverse

from classifier.models import EvaluationReport, JobStatus, Photo, PredictionJob, PreparationJob, ReportOrigin
from classifier.selectors.runs import checkpoint_file_problem
from classifier.services import worker_calls
from tests.factories import (
    EvaluationReportFactory,
    StaffFactory,
    TrainingRunFactory,
    UserFactory,
    real_checkpoint,
    tiny_config,
)
from tests.photo_files import jpeg_bytes, upload
from tests.s3_server import BUCKET
from tests.workers import PRIVATE_BROKER_URL, TEST_BROKER_URL, WorkerProcess, flush_broker, send_privately, wait_for

pytestmark = pytest.mark.integration


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def gpu_host(transactional_db, s3, tmp_path):
    """A worker on another host: the same bucket, database and broker; its own disk."""
    flush_broker(PRIVATE_BROKER_URL)
    host = tmp_path / "gpu-host"
    host.mkdir()
    worker = WorkerProcess(media_root=host / "media", checkpoint_root=host / "checkpoints",
                           log_path=host / "worker.log", broker_url=PRIVATE_BROKER_URL, extra_env=s3.settings)
    worker.wait_ready()
    worker.disk = host
    worker.cache = host / "worker-cache"  # its CHECKPOINT_CACHE_DIR (tests.workers)
    yield worker
    worker.stop()
    flush_broker(PRIVATE_BROKER_URL)


def _finished(job, worker, timeout=300):
    model = type(job)
    return wait_for(lambda: model.objects.get(pk=job.pk) if model.objects.get(pk=job.pk).is_finished else None,
                    timeout=timeout, message=f"{job.kind} {job.pk} to finish; worker log:\n{worker.log()}")


def test_train_evaluate_predict_and_download_through_the_bucket(web_on_the_bucket, gpu_host, s3, sent_tasks,
                                                                client, settings):
    web = web_on_the_bucket

    # Train: each epoch is written on the worker's disk, then stored in the bucket.
    run = TrainingRunFactory(config=tiny_config(epochs=3).to_dict(), created_by=StaffFactory())
    send_privately(run)
    run = _finished(run, gpu_host)
    assert run.status == JobStatus.SUCCEEDED, run.error
    checkpoints = list(run.checkpoints.order_by("epoch"))
    stored = s3.keys("checkpoints/")
    assert sorted(stored) == sorted(f"checkpoints/{c.file.name}" for c in checkpoints)  # best and last only
    for checkpoint in checkpoints:
        assert hashlib.sha256(stored[f"checkpoints/{checkpoint.file.name}"]).hexdigest() == checkpoint.sha256
    assert not _files_under(gpu_host.disk / "checkpoints")  # nothing in a "shared" folder
    assert not _files_under(gpu_host.cache / "scratch")  # scratch is emptied once stored

    # Evaluate: training queued the best checkpoint's report; the worker fetched the file once,
    # verified, into its cache.
    best = run.checkpoints.order_by("-val_acc", "epoch").first()
    automatic = wait_for(lambda: EvaluationReport.objects.filter(checkpoint=best, origin=ReportOrigin.TRAINING).first(),
                         timeout=60, message="the automatic report")
    automatic = _finished(automatic, gpu_host)
    assert automatic.status == JobStatus.SUCCEEDED and automatic.n_samples == 10_000, automatic.error
    cached = gpu_host.cache / f"{best.sha256}.pt"
    assert cached.read_bytes() == stored[f"checkpoints/{best.file.name}"]
    inode = cached.stat().st_ino
    again = EvaluationReportFactory(checkpoint=best)
    send_privately(again)
    assert _finished(again, gpu_host).status == JobStatus.SUCCEEDED
    assert cached.stat().st_ino == inode  # the cached copy served it: not fetched again

    # Predict: an upload on the web host goes to the bucket; the worker prepares it from there
    # (the upload's own bytes, then removed), then predicts it.
    user = UserFactory()
    client.force_login(user)
    response = client.post(reverse("photo_upload_file"), {"photo": upload(jpeg_bytes(), "shirt.jpg")})
    assert response.status_code == 201, response.content
    photo = Photo.objects.get()
    media = s3.keys("media/")
    assert sorted(media) == sorted([f"media/{photo.original.name}", f"media/{photo.thumbnail.name}",
                                    f"media/{photo.upload.name}"])
    thumbnail = client.get(reverse("photo_thumbnail", args=[photo.pk]))
    assert b"".join(thumbnail.streaming_content) == media[f"media/{photo.thumbnail.name}"]
    (job_name, job_id), = [sent for sent in sent_tasks if sent[0] == PreparationJob.task_name]
    preparation = PreparationJob.objects.get(pk=job_id)
    send_privately(preparation)
    assert _finished(preparation, gpu_host).status == JobStatus.SUCCEEDED, preparation.error
    photo.refresh_from_db()
    assert photo.is_ready and sorted(s3.keys("media/")) == sorted(
        [f"media/{photo.original.name}", f"media/{photo.thumbnail.name}"])
    job = PredictionJob.objects.get()  # queued by the worker, on its own broker
    assert _finished(job, gpu_host).status == JobStatus.SUCCEEDED
    photo.refresh_from_db()
    assert photo.predicted_label is not None and photo.predicted_by_id == best.pk

    # Download and promotion's check, on the web host, from the bucket.
    client.force_login(StaffFactory())
    url = reverse("checkpoint_download", args=[best.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == stored[f"checkpoints/{best.file.name}"]
    assert checkpoint_file_problem(checkpoint=best) is None
    s3.client().put_object(Bucket=BUCKET, Key=f"checkpoints/{best.file.name}", Body=b"someone else's model")
    assert client.get(url).status_code == 409
    assert "has changed since it was written" in checkpoint_file_problem(checkpoint=best)
    s3.client().delete_object(Bucket=BUCKET, Key=f"checkpoints/{best.file.name}")
    assert client.get(url).status_code == 404
    assert "is missing" in checkpoint_file_problem(checkpoint=best)

    # The web host's own folders were never used for files.
    assert not _files_under(web), _files_under(web)


def test_a_checkpoint_changed_in_the_bucket_is_refused_by_a_worker_that_never_cached_it(
        web_on_the_bucket, gpu_host, s3, transactional_db):
    from tests.checkpoints import saved_checkpoint

    checkpoint = saved_checkpoint()  # stored through STORAGES["checkpoints"]: the bucket
    key = f"checkpoints/{checkpoint.file.name}"
    assert hashlib.sha256(s3.keys("checkpoints/")[key]).hexdigest() == checkpoint.sha256
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=b"not the recorded bytes")
    report = EvaluationReportFactory(checkpoint=checkpoint)
    send_privately(report)
    report = _finished(report, gpu_host)
    assert report.status == JobStatus.FAILED and "has changed since it was written" in report.error
    assert not list(gpu_host.cache.glob("*.pt"))  # nothing unverified is kept


def test_an_export_is_made_by_a_worker_into_the_bucket_and_downloaded_from_it(web_on_the_bucket, s3, trained_weights,
                                                                           transactional_db, client, tmp_path,
                                                                           monkeypatch):
    # A checkpoint the web host stored in the bucket; a worker with a disk of its own, on the
    # broker the web asks (the export is a call the page waits for), on a queue of its own so
    # that the suite's other worker, which has no bucket, can't take the call.
    checkpoint = real_checkpoint(trained_weights)
    assert f"checkpoints/{checkpoint.file.name}" in s3.keys("checkpoints/")
    host = tmp_path / "export-host"
    host.mkdir()
    monkeypatch.setattr(worker_calls.app, "send_task", partial(worker_calls.app.send_task, queue="s3-export"))
    worker = WorkerProcess(media_root=host / "media", checkpoint_root=host / "checkpoints",
                           log_path=host / "worker.log", broker_url=TEST_BROKER_URL, extra_env=s3.settings,
                           queue="s3-export")
    try:
        worker.wait_ready()
        client.force_login(StaffFactory())
        response = client.get(reverse("checkpoint_export", args=[checkpoint.pk]))
        assert response.status_code == 200, worker.log()
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        assert any(name.endswith("/model.onnx") for name in archive.namelist())
        kept = [key for key in s3.keys("media/") if key.startswith("media/exports/")]
        assert len(kept) == 1  # kept in the bucket for the next download
    finally:
        worker.stop()
    assert not _files_under(host / "media") and not _files_under(web_on_the_bucket)
