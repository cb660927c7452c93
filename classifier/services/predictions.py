"""One photo's prediction, answered at once (the API's predict): the web makes the 28x28 image
as an upload would and a worker runs the model on it, as it does for the gallery's photos (the
same checkpoint, read and verified the same way, with its own inference settings). The web
never imports torch: it sends the image by task name and waits for the answer."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

import numpy as np
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from kombu.exceptions import OperationalError

from classifier.models import Checkpoint
from classifier.selectors.photos import checkpoint_for_prediction
from dataset.classes import CLASS_NAMES
from fmnistsite.celery import app

logger = logging.getLogger(__name__)

PREDICT_TASK = "worker.tasks.predict_image"


class PredictionUnavailable(Exception):
    """No answer can be had now (no trained model, no worker answering, Redis down); the
    message says which, for the caller."""


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]
    checkpoint: Checkpoint

    @property
    def label_index(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)

    @property
    def label(self) -> str:
        return CLASS_NAMES[self.label_index]


def image_predict(*, model_input: np.ndarray, checkpoint: Checkpoint | None = None) -> Prediction:
    """The model's answer for one 28x28 uint8 image: by default from the checkpoint that
    predicts the gallery's photos."""
    checkpoint = checkpoint or checkpoint_for_prediction()
    if checkpoint is None:
        raise PredictionUnavailable("No trained model yet: a training run has to succeed first.")
    image = base64.b64encode(np.ascontiguousarray(model_input, dtype=np.uint8).tobytes()).decode()
    timeout = settings.API_PREDICT_TIMEOUT_S
    try:
        # expires: a message no worker took in time is dropped, not answered for no one.
        result = app.send_task(PREDICT_TASK, args=[checkpoint.pk, image], expires=timeout,
                               retry=True, retry_policy=settings.JOB_SEND_RETRY_POLICY)
    except OperationalError:
        raise PredictionUnavailable("The job queue (Redis) can't be reached right now; try again later.") from None
    try:
        answer = result.get(timeout=timeout)
    except CeleryTimeout:
        raise PredictionUnavailable(f"No worker answered within {timeout} s; try again later.") from None
    finally:
        result.forget()
    if "error" in answer:
        raise PredictionUnavailable(answer["error"])
    return Prediction(probabilities=answer["probabilities"], checkpoint=checkpoint)
