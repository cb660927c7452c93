"""Where a PredictionJob record meets the model: photos' 28x28 images in, predictions out."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from classifier.models import (
    Checkpoint,
    Photo,
    PhotoState,
    PredictionJob,
    PredictionScope,
    PredictionTarget,
    model_input_array,
)
from classifier.services import jobs as job_services
from classifier.services import photos as photo_services
from engine.checkpoints import CheckpointRefused
from engine.occlusion import occlusion_maps_batch
from engine.prediction import Predictor, load_predictor
from worker.checkpoint_files import checkpoint_path

CHUNK = 512  # photos read, predicted and written per step; each step is a heartbeat
# With occlusion maps (the active model's predictions) a photo costs 37 forward passes, not one:
# smaller steps keep the heartbeat, and so a cancel, within a few seconds.
CHUNK_WITH_MAPS = 16


def occlusion_for(predictor, images: np.ndarray, probabilities: np.ndarray,
                  labels: list[int | None]) -> list[tuple[bytes, list[int]]]:
    """For each photo, the maps for its predicted class and, when it differs, its label, as
    Photo.occlusion stores them."""
    maps = occlusion_maps_batch(predictor.probabilities, images)
    out = []
    for photo_maps, probs, label in zip(maps, probabilities, labels):
        predicted = int(probs.argmax())
        classes = [predicted] + ([label] if label is not None and label != predicted else [])
        out.append((photo_maps[classes].astype(np.float16).tobytes(), classes))
    return out


def predict_and_record(job: PredictionJob) -> None:
    if job.checkpoint is None:
        raise job_services.JobRefused("The job's checkpoint was deleted.")
    # Before anything is written: a missing or changed file is refused, never predicted with.
    predictor = load_predictor(checkpoint_path(job.checkpoint), job.checkpoint.sha256, device="auto")
    # Which photos is decided now, when the worker starts, not when the job was asked for.
    photos = Photo.objects.filter(state=PhotoState.READY).order_by("pk")  # preparing: no image yet
    if job.scope == PredictionScope.UNPREDICTED:
        photos = photos.filter(predicted_label__isnull=True)
    photo_ids = list(photos.values_list("pk", flat=True))
    photo_services.prediction_job_start(job=job, total=len(photo_ids))
    # The maps cost 37 forward passes a photo (about 6 minutes more for 2,000 photos on a 2-core
    # CPU): PHOTO_OCCLUSION_MAPS=0 predicts without them.
    with_maps = job.target == PredictionTarget.ACTIVE and settings.PHOTO_OCCLUSION_MAPS
    chunk = CHUNK_WITH_MAPS if with_maps else CHUNK
    for start in range(0, len(photo_ids), chunk):
        rows = list(Photo.objects.filter(pk__in=photo_ids[start:start + chunk]).values_list("pk", "model_input", "label"))
        images = np.stack([model_input_array(data) for _, data, _ in rows])
        probabilities = predictor.probabilities(images)
        maps = (dict(zip([pk for pk, _, _ in rows],
                         occlusion_for(predictor, images, probabilities, [label for *_, label in rows])))
                if with_maps else None)
        photo_services.prediction_job_record(
            job=job, results=[(pk, [round(float(p), 6) for p in probs]) for (pk, _, _), probs in zip(rows, probabilities)],
            occlusion=maps,
        )


# --- one image, answered at once (the API's predict) ----------------------------------------

# The model last asked for, kept in this pool process: loading and hashing a checkpoint for
# every request would cost more than the prediction. The key holds the sha256, and the weights
# in memory are the bytes that were verified against it when they were loaded.
_loaded: dict[tuple[int, str], Predictor] = {}


def predictor_for(checkpoint: Checkpoint) -> Predictor:
    key = (checkpoint.pk, checkpoint.sha256)
    if key not in _loaded:
        predictor = load_predictor(checkpoint_path(checkpoint), checkpoint.sha256, device="auto")
        _loaded.clear()
        _loaded[key] = predictor
    return _loaded[key]


def predict_one(checkpoint_id: int, model_input: bytes) -> list[float]:
    """The ten probabilities for one stored-format 28x28 image (784 bytes), with the checkpoint's
    own inference settings, rounded as prediction jobs store them for the gallery."""
    checkpoint = Checkpoint.objects.filter(pk=checkpoint_id).first()
    if checkpoint is None:
        raise CheckpointRefused(f"Checkpoint #{checkpoint_id} no longer exists.")
    probabilities = predictor_for(checkpoint).probabilities(model_input_array(model_input)[None])[0]
    return [round(float(p), 6) for p in probabilities]
