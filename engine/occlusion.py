"""Where the model looked: occlusion maps over the 28x28 image it sees. Plain numpy around any
probability function (engine.prediction.Predictor.probabilities); no Django.

At 28x28 occlusion is cheap and needs no gradients or hooks: grey out a patch, see how much the
class's probability drops, and credit that drop to the patch's pixels. 144 patches of 6x6 at a
stride of 2 make one batch per photo; every class's map comes from the same batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PATCH = 6
STRIDE = 2
# What a patch is filled with: black, the background of every image the model sees, so a patch
# removes that part of the item and adds nothing. (Grey, Fashion-MNIST's mean, was tried: a grey
# square on the background is itself a shape, and a small model's probabilities moved nearly as
# much for one there as for one on the item, which says more about the square than the photo.)
FILL = 0


def occluded_copies(image: np.ndarray, patch: int = PATCH, stride: int = STRIDE,
                    fill: int = FILL) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(P, H, W) copies of the uint8 image, each with one patch filled, and each patch's top-left."""
    height, width = image.shape
    corners = [(top, left) for top in range(0, height - patch + 1, stride) for left in range(0, width - patch + 1, stride)]
    copies = np.repeat(image[None], len(corners), axis=0)
    for n, (top, left) in enumerate(corners):
        copies[n, top:top + patch, left:left + patch] = fill
    return copies, corners


def occlusion_maps(probabilities: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *,
                   patch: int = PATCH, stride: int = STRIDE, fill: int = FILL) -> np.ndarray:
    """(classes, H, W) float32: for each class and pixel, the mean drop in the class's probability
    when a patch covering that pixel is hidden. Positive where the model found evidence for the
    class; negative where hiding helps it (evidence against)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    copies, corners = occluded_copies(image, patch, stride, fill)
    both = probabilities(np.concatenate([image[None], copies]))
    base, occluded = both[0], both[1:]
    drops = base[None, :] - occluded  # (P, classes)
    total = np.zeros((both.shape[1], *image.shape), dtype=np.float64)
    count = np.zeros(image.shape, dtype=np.float64)
    for (top, left), drop in zip(corners, drops):
        total[:, top:top + patch, left:left + patch] += drop[:, None, None]
        count[top:top + patch, left:left + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
