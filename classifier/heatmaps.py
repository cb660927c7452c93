"""Occlusion maps drawn as pictures (Pillow and numpy; the web never imports torch): red where
hiding that part of the image lowers the class's probability (the model's evidence for it), blue
where hiding it raises it, over what the model sees or over the photo."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

MODEL_SIDE = 196  # what the model sees, drawn at 7x
MAX_ALPHA = 0.65


def _colour(heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 colours and (H, W) float alpha, scaled by the map's largest magnitude."""
    scale = float(np.abs(heat).max()) or 1.0
    value = np.clip(heat / scale, -1, 1)
    rgb = np.zeros((*heat.shape, 3), dtype=np.uint8)
    rgb[..., 0] = np.where(value > 0, 239, 37)
    rgb[..., 1] = np.where(value > 0, 68, 99)
    rgb[..., 2] = np.where(value > 0, 68, 235)
    return rgb, np.abs(value) * MAX_ALPHA


def _blend(base: Image.Image, heat: np.ndarray) -> Image.Image:
    rgb, alpha = _colour(heat)
    under = np.asarray(base.convert("RGB"), dtype=np.float32)
    out = under * (1 - alpha[..., None]) + rgb.astype(np.float32) * alpha[..., None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def over_model_input(model_input: np.ndarray, heat: np.ndarray) -> bytes:
    """The 28x28 image at MODEL_SIDE px (pixelated, as pages show it) with the map over it."""
    base = Image.fromarray(model_input, "L").resize((MODEL_SIDE, MODEL_SIDE), Image.Resampling.NEAREST)
    big = np.asarray(Image.fromarray(heat.astype(np.float32), "F").resize((MODEL_SIDE, MODEL_SIDE),
                                                                         Image.Resampling.NEAREST))
    return _png(_blend(base, big))


def over_photo(photo: Image.Image, heat: np.ndarray, box: list[float]) -> bytes:
    """The photo with the map over the part of it that became the 28x28 frame; box is
    (left, top, right, bottom) as fractions of the photo (dataset.photos.frame_box)."""
    photo = photo.convert("RGB")
    width, height = photo.size
    left, top, right, bottom = (round(box[0] * width), round(box[1] * height), round(box[2] * width),
                                round(box[3] * height))
    side_x, side_y = max(1, right - left), max(1, bottom - top)
    frame = np.asarray(Image.fromarray(heat.astype(np.float32), "F").resize((side_x, side_y), Image.Resampling.BILINEAR))
    full = np.zeros((height, width), dtype=np.float32)
    # The frame may reach past the photo's edges (a long item in a square frame): keep what is inside.
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x1 > x0 and y1 > y0:
        full[y0:y1, x0:x1] = frame[y0 - top:y1 - top, x0 - left:x1 - left]
    return _png(_blend(photo, full))
