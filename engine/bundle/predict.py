"""Predict photos with the exported model, without the app: one JSON line per photo.

    python predict.py PHOTO...

Each line: {"photo", "label", "label_index", "probabilities"} (the ten, in class order), or
{"photo", "error"} for a file that is refused (not a JPEG, PNG or WebP image, truncated, too
many pixels). Needs only numpy, Pillow, OpenCV and onnxruntime (requirements.txt).

photos.py beside this file is the app's own preprocessing module, so a photo is prepared
exactly as an upload to the app is; model.onnx holds the normalisation and flip averaging."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import photos  # noqa: E402 - the app's dataset/photos.py, shipped beside this file


def load(folder: Path = HERE) -> tuple[onnxruntime.InferenceSession, dict]:
    metadata = json.loads((folder / "metadata.json").read_text())
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return session, metadata


def model_input(data: bytes, max_pixels: int = photos.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(28, 28) uint8, made as the app makes it from an upload."""
    with photos.open_photo(data, max_pixels=max_pixels) as image:
        return photos.preprocess(photos.orient(image))


def probabilities(session: onnxruntime.InferenceSession, images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 10) float32."""
    return session.run(["probabilities"], {"image": np.ascontiguousarray(images, dtype=np.uint8)})[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path)
    args = parser.parse_args(argv)
    session, metadata = load()
    names = metadata["class_names"]
    failed = 0
    for path in args.photos:
        try:
            image = model_input(path.read_bytes(), metadata["preprocessing"].get("max_pixels", photos.DEFAULT_MAX_PIXELS))
        except (OSError, photos.PhotoUnreadable) as exc:
            print(json.dumps({"photo": str(path), "error": str(exc)}), flush=True)
            failed += 1
            continue
        probs = probabilities(session, image[None])[0]
        best = int(np.argmax(probs))
        print(json.dumps({"photo": str(path), "label": names[best], "label_index": best,
                          "probabilities": [float(p) for p in probs]}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
