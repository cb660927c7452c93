"""Occlusion maps: their shape, and that hiding the item moves the prediction more than hiding the background."""

import numpy as np
import pytest

from dataset.eval_sets import fmnist_test_set
from engine.occlusion import FILL, PATCH, occluded_copies, occlusion_maps, occlusion_maps_batch
from engine.prediction import load_predictor


@pytest.fixture(scope="module")
def predictor(trained_weights):
    return load_predictor(trained_weights, None, device="cpu")


def test_a_map_per_class_over_the_whole_image(predictor):
    image = fmnist_test_set().images[0]
    maps = occlusion_maps(predictor.probabilities, image)
    assert maps.shape == (10, 28, 28) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    # Several photos at once give each its own map, the same as one at a time.
    images = fmnist_test_set().images[:3]
    together = occlusion_maps_batch(predictor.probabilities, images)
    assert together.shape == (3, 10, 28, 28)
    assert np.allclose(together[0], maps, atol=1e-5)
    copies, corners = occluded_copies(image)
    assert len(copies) == len(corners) == 6 * 6
    top, left = corners[5]
    assert (copies[5, top:top + PATCH, left:left + PATCH] == FILL).all()


def _grown(mask, by):
    """The mask grown by `by` pixels in every direction (a square neighbourhood)."""
    padded = np.pad(mask, by)
    out = np.zeros_like(mask)
    for dy in range(2 * by + 1):
        for dx in range(2 * by + 1):
            out |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


def _hide(image, top, left):
    copy = image.copy()
    copy[top:top + PATCH, left:left + PATCH] = FILL
    return copy


def test_hiding_the_item_changes_the_prediction_more_than_hiding_the_background(predictor):
    test = fmnist_test_set()
    trousers = np.flatnonzero(test.labels == 1)[:10]
    item_drops, background_drops = [], []
    for index in trousers:
        image = test.images[index]
        predicted = int(predictor.probabilities(image[None]).argmax())
        maps = occlusion_maps(predictor.probabilities, image)[predicted]
        item = image > 60  # the garment, light on black
        background = image == 0
        # Background far from the item: no patch over it touches the item (nor anything but black).
        far = background & ~_grown(image > 0, PATCH - 1)
        item_drops.append(float(maps[item].mean()))
        background_drops.append(float(np.abs(maps[far]).mean()))
        # And the prediction itself: hiding the item's middle moves it, hiding a far corner does not.
        probs = predictor.probabilities(np.stack([image, _hide(image, 11, 11), _hide(image, 0, 0)]))
        assert np.abs(probs[1] - probs[0]).sum() > np.abs(probs[2] - probs[0]).sum()
    assert sum(d > 0 for d in item_drops) >= 8  # a weak model (512 images) may find an odd trouser better hidden
    assert np.mean(item_drops) > 5 * np.mean(background_drops)
    assert max(background_drops) < 1e-6  # hiding black with black changes nothing there
