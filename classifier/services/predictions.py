"""One photo's prediction, answered at once (the API's predict): the web makes the 28x28 image
as an upload would and a worker runs the model on it, as it does for the gallery's photos (the
same checkpoint, read and verified the same way, with its own inference settings). The web
never imports torch: it sends the image by task name and waits for the answer."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from classifier.models import Checkpoint
from classifier.selectors.photos import checkpoint_for_prediction
from classifier.services.worker_calls import WorkerUnavailable, worker_call
from dataset.classes import CLASS_NAMES

PREDICT_TASK = "worker.tasks.predict_image"


class PredictionUnavailable(WorkerUnavailable):
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
    answer = worker_call(PREDICT_TASK, [checkpoint.pk, image], timeout=settings.API_PREDICT_TIMEOUT_S)
    return Prediction(probabilities=answer["probabilities"], checkpoint=checkpoint)
