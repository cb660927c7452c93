"""Batch prediction on 28x28 images with a saved checkpoint. Plain PyTorch, no Django.

The images are what ``dataset.photos.preprocess`` made (uint8, light item on black); the
checkpoint's own inference settings decide the normalisation and flip TTA, through the same
``predict_logits`` that validation uses, so a photo is scored exactly as a test image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.checkpoints import inference_of, load_verified_checkpoint
from engine.config import Inference
from engine.hardware import pick_device
from engine.inference import predict_logits

BATCH_SIZE = 1024  # images per forward pass: large, since inference holds no gradients


@dataclass(frozen=True)
class Predictor:
    model: torch.nn.Module
    payload: dict
    device: torch.device

    @property
    def inference(self) -> Inference:
        return inference_of(self.payload)

    def probabilities(self, images_uint8: np.ndarray) -> np.ndarray:
        """(N, 28, 28) uint8 -> (N, 10) float32 class probabilities (softmax of the logits)."""
        if len(images_uint8) == 0:
            return np.zeros((0, len(self.payload["class_names"])), dtype=np.float32)
        # Writable too: torch warns on (and may not copy) a read-only array, such as a view of stored bytes.
        x = torch.from_numpy(np.require(images_uint8, dtype=np.uint8, requirements=["C", "W"])).to(self.device)
        logits = predict_logits(self.model, x, self.inference, batch_size=BATCH_SIZE)
        return torch.softmax(logits, dim=1).cpu().numpy()


def load_predictor(path: Path, expected_sha256: str | None, device: str = "auto") -> Predictor:
    """The model of a checkpoint file whose bytes still match the recorded sha256 (None: a file
    from outside the app, such as a measurement script's), ready to predict."""
    chosen = pick_device(device)
    model, payload = load_verified_checkpoint(Path(path), expected_sha256, chosen)
    return Predictor(model=model, payload=payload, device=chosen)
