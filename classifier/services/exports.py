"""A checkpoint's bundle (model.onnx, metadata.json, predict.py...) for the download on its
page: made once by a worker (exporting needs torch) into storage, then served from there."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage

from classifier.models import Checkpoint
from classifier.selectors.exports import export_storage_name
from classifier.services.worker_calls import worker_call

EXPORT_TASK = "worker.tasks.export_checkpoint"


def checkpoint_export_ensure(*, checkpoint: Checkpoint) -> str:
    """The storage name of the checkpoint's zip, asking a worker to write it the first time.
    Raises WorkerUnavailable (with the reason: no worker, a changed file) when it can't be had."""
    name = export_storage_name(checkpoint=checkpoint)
    if not default_storage.exists(name):
        worker_call(EXPORT_TASK, [checkpoint.pk, name], timeout=settings.EXPORT_TIMEOUT_S)
    return name
