"""Where a PredictionJob record meets the model: photos' 28x28 images in, predictions out."""

from __future__ import annotations

import numpy as np

from classifier.models import Photo, PredictionJob, PredictionScope, model_input_array
from classifier.services import jobs as job_services
from classifier.services import photos as photo_services
from engine.prediction import load_predictor
from worker.checkpoint_files import checkpoint_path

CHUNK = 512  # photos read, predicted and written per step; each step is a heartbeat


def predict_and_record(job: PredictionJob) -> None:
    if job.checkpoint is None:
        raise job_services.JobRefused("The job's checkpoint was deleted.")
    # Before anything is written: a missing or changed file is refused, never predicted with.
    predictor = load_predictor(checkpoint_path(job.checkpoint), job.checkpoint.sha256, device="auto")
    # Which photos is decided now, when the worker starts, not when the job was asked for.
    photos = Photo.objects.order_by("pk")
    if job.scope == PredictionScope.UNPREDICTED:
        photos = photos.filter(predicted_label__isnull=True)
    photo_ids = list(photos.values_list("pk", flat=True))
    photo_services.prediction_job_start(job=job, total=len(photo_ids))
    for start in range(0, len(photo_ids), CHUNK):
        rows = list(Photo.objects.filter(pk__in=photo_ids[start:start + CHUNK]).values_list("pk", "model_input"))
        images = np.stack([model_input_array(data) for _, data in rows])
        probabilities = predictor.probabilities(images)
        photo_services.prediction_job_record(
            job=job, results=[(pk, [round(float(p), 6) for p in probs]) for (pk, _), probs in zip(rows, probabilities)],
        )
