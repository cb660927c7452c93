"""Pictures of the images a model sees, for pages: a 28×28 grey image as an enlarged PNG."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PAGE_SIZE = 112  # 4× the model's 28 px: big enough to see, still the model's own pixels


def enlarged_png(image: np.ndarray, size: int = PAGE_SIZE) -> bytes:
    """uint8 (H, W) -> PNG bytes, scaled up with nearest-neighbour so no pixel is invented."""
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))  # 2-D uint8: mode "L"
    picture = picture.resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
