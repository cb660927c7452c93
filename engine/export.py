"""A checkpoint as a bundle that predicts where this app does not run: model.onnx (the
normalisation and flip averaging inside the graph), metadata.json, predict.py with the app's
own preprocessing module beside it, and the bundle's requirements. Plain PyTorch, no Django.

The graph takes what dataset.photos.preprocess makes, (N, 28, 28) uint8, and answers the ten
probabilities, exactly as engine.inference.predict_logits and a softmax do in the app."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

import dataset.photos
from dataset.classes import CLASS_NAMES
from engine.checkpoints import inference_of, load_verified_checkpoint
from engine.config import Inference
from engine.inference import normalize

BUNDLE_FORMAT = 1
# The files of the bundle that are the same for every checkpoint: shipped as they are.
BUNDLE_SOURCES = Path(__file__).resolve().parent / "bundle"
BUNDLE_FILES = ("predict.py", "requirements.txt", "README.md")
OPSET = 18


class _WithPreprocessing(nn.Module):
    """The model with what predict_logits does around it, so the graph needs nothing else."""

    def __init__(self, model: nn.Module, inference: Inference):
        super().__init__()
        self.model = model
        self.inference = inference

    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        x = normalize(images_uint8, self.inference)
        if self.inference.tta_flip:
            # As predict_logits: the image and its mirror in one batch, their logits averaged.
            both = self.model(torch.cat([x, x.flip(3)]))
            logits = (both[:x.shape[0]] + both[x.shape[0]:]) / 2
        else:
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1)


def onnx_bytes(model: nn.Module, inference: Inference) -> bytes:
    wrapped = _WithPreprocessing(model.float().eval(), inference).eval()
    example = torch.zeros((2, 28, 28), dtype=torch.uint8)
    out = io.BytesIO()
    with torch.no_grad():
        program = torch.onnx.export(
            wrapped, (example,), input_names=["image"], output_names=["probabilities"], opset_version=OPSET,
            dynamic_shapes={"images_uint8": {0: torch.export.Dim("batch", min=1, max=4096)}}, dynamo=True,
            verbose=False,
        )
    program.save(out)
    return out.getvalue()


def bundle_write(*, checkpoint_file: Path, expected_sha256: str | None, out_dir: Path, about: dict) -> Path:
    """Write the bundle into out_dir (made if missing) and return it. `about` joins
    metadata.json: what the app knows of the checkpoint (its id, run, scorecard)."""
    model, payload = load_verified_checkpoint(Path(checkpoint_file), expected_sha256, "cpu")
    inference = inference_of(payload)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.onnx").write_bytes(onnx_bytes(model, inference))
    metadata = {
        "bundle_format": BUNDLE_FORMAT,
        "class_names": list(payload.get("class_names") or CLASS_NAMES),
        "checkpoint_sha256": expected_sha256,
        "architecture": payload["arch"],
        "epoch": payload["epoch"],
        "inference": {"mean": inference.mean, "std": inference.std, "tta_flip": inference.tta_flip,
                      "inside_the_graph": True},
        "input": {"name": "image", "dtype": "uint8", "shape": ["N", 28, 28],
                  "what": "photos.preprocess(photos.orient(photos.open_photo(bytes))): the item light on black"},
        "output": {"name": "probabilities", "dtype": "float32", "shape": ["N", len(CLASS_NAMES)]},
        "preprocessing": {"module": "photos.py", "version": dataset.photos.PREPROCESS_VERSION,
                          "settings": asdict(dataset.photos.DEFAULT),
                          "max_pixels": dataset.photos.DEFAULT_MAX_PIXELS},
        **about,
    }
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    # The app's own preprocessing module, not a second copy of its logic: the bundle then
    # prepares a photo exactly as an upload is prepared.
    shutil.copyfile(dataset.photos.__file__, out_dir / "photos.py")
    for name in BUNDLE_FILES:
        shutil.copyfile(BUNDLE_SOURCES / name, out_dir / name)
    return out_dir


def bundle_zip(folder: Path, *, top: str) -> bytes:
    """The bundle's files as one zip, under a folder named `top`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                archive.write(path, f"{top}/{path.name}")
    return out.getvalue()
