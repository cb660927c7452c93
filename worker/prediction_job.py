"""Where a PredictionJob record meets the model: photos' 28x28 images in, predictions out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings

from classifier.models import Photo, PredictionJob, PredictionScope, model_input_array
from classifier.services import photos as photo_services
from worker.prediction import load_predictor

CHUNK = 512  # photos read, predicted and written per step; each step is a heartbeat


def predict_and_record(job: PredictionJob) -> None:
    if job.checkpoint is None:
        raise FileNotFoundError("the job's checkpoint was deleted")
    path = Path(settings.CHECKPOINT_ROOT) / job.checkpoint.file.name
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {job.checkpoint.file.name} is missing under CHECKPOINT_ROOT")
    # Which photos is decided now, when the worker starts, not when the job was asked for.
    photos = Photo.objects.order_by("pk")
    if job.scope == PredictionScope.UNPREDICTED:
        photos = photos.filter(predicted_label__isnull=True)
    photo_ids = list(photos.values_list("pk", flat=True))
    photo_services.prediction_job_start(job_id=job.pk, total=len(photo_ids))
    if not photo_ids:
        return
    predictor = load_predictor(path, device="auto")
    for start in range(0, len(photo_ids), CHUNK):
        rows = list(Photo.objects.filter(pk__in=photo_ids[start:start + CHUNK]).values_list("pk", "model_input"))
        images = np.stack([model_input_array(data) for _, data in rows])
        probabilities = predictor.probabilities(images)
        photo_services.prediction_job_record(
            job_id=job.pk, checkpoint=job.checkpoint,
            results=[(pk, [round(float(p), 6) for p in probs]) for (pk, _), probs in zip(rows, probabilities)],
        )
