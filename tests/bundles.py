"""Helpers for the export tests: a tiny real `fast` model (it averages flips, so the graph's
flip averaging is exercised), the app's answers for photos, and the bundle's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from tests.photo_files import shared_photos

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def train_fast(folder: Path) -> Path:
    """One epoch of the `fast` preset on 512 images: a real checkpoint in seconds."""
    from dataset.fashion_mnist import training_data
    from engine.training import train
    from tests.factories import tiny_config

    config = tiny_config(preset="fast", epochs=1)
    assert config.recipe.inference.tta_flip
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
    train(config, train_images=data.train_images, train_labels=data.train_labels,
          val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder)
    return folder / "epoch-001.pt"


def shared_photo_files() -> list[Path]:
    """Every photo in ../shared/photos (or a skip saying where it was looked for)."""
    folder = shared_photos()
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)


def app_probabilities(weights: Path, photos: list[Path]) -> np.ndarray:
    """What the app answers for each photo: the upload's preprocessing, then the gallery's
    prediction path (engine.prediction with the checkpoint's own inference settings)."""
    from dataset.photos import open_photo, orient, preprocess
    from engine.prediction import load_predictor

    predictor = load_predictor(weights, None, device="cpu")
    images = []
    for path in photos:
        with open_photo(path.read_bytes()) as image:
            images.append(preprocess(orient(image)))
    return predictor.probabilities(np.stack(images))


def bundle_answers(python: str | Path, bundle: Path, photos: list[Path], *, env: dict | None = None) -> list[dict]:
    result = subprocess.run([str(python), str(bundle / "predict.py"), *map(str, photos)], capture_output=True,
                            text=True, timeout=600, env=env, cwd=bundle)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_same_answers(app: np.ndarray, bundle: list[dict], photos: list[Path]) -> None:
    assert len(bundle) == len(photos)
    for path, expected, line in zip(photos, app, bundle):
        assert line["photo"] == str(path)
        assert line["label_index"] == int(np.argmax(expected)), path
        np.testing.assert_allclose(line["probabilities"], expected, atol=1e-4, rtol=0, err_msg=str(path))
