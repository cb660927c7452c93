"""Where the model looked: occlusion maps over the 28x28 image it sees. Plain numpy around any
probability function (engine.prediction.Predictor.probabilities); no Django.

At 28x28 occlusion is cheap and needs no gradients or hooks: black out a patch, see how much the
class's probability drops, and credit that drop to the patch's pixels. 36 patches of 8x8 at a
stride of 4 (overlapping, so the map is smooth at 4-px steps) make one batch per photo, or one
for several photos; every class's map comes from the same batch. Finer steps (6x6 at a stride
of 2: 144 patches) cost four times as much for a map that looked the same at this size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PATCH = 8
STRIDE = 4
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
    return occlusion_maps_batch(probabilities, image[None], patch=patch, stride=stride, fill=fill)[0]


def occlusion_maps_batch(probabilities: Callable[[np.ndarray], np.ndarray], images: np.ndarray, *,
                         patch: int = PATCH, stride: int = STRIDE, fill: int = FILL) -> np.ndarray:
    """occlusion_maps for (N, H, W) images at once, (N, classes, H, W): one call of `probabilities`
    for all their copies, which a CPU runs faster than many small ones."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if len(images) == 0:
        return np.zeros((0, 0, *images.shape[1:]), dtype=np.float32)
    made = [occluded_copies(image, patch, stride, fill) for image in images]
    corners = made[0][1]
    per_image = len(corners) + 1
    batch = np.concatenate([np.concatenate([image[None], copies]) for image, (copies, _) in zip(images, made)])
    out = probabilities(batch)
    count = np.zeros(images.shape[1:], dtype=np.float64)
    for top, left in corners:
        count[top:top + patch, left:left + patch] += 1
    maps = np.zeros((len(images), out.shape[1], *images.shape[1:]), dtype=np.float64)
    for n in range(len(images)):
        both = out[n * per_image:(n + 1) * per_image]
        drops = both[0][None, :] - both[1:]  # (patches, classes)
        for (top, left), drop in zip(corners, drops):
            maps[n, :, top:top + patch, left:left + patch] += drop[:, None, None]
    return (maps / np.maximum(count, 1)).astype(np.float32)
