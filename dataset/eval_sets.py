"""Labelled images as the model sees them, ready to be scored: one shape for every dataset
an evaluation report can be about (Fashion-MNIST's test split, the team's labelled photos,
an outside folder of photos)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dataset.fashion_mnist import load_split

FMNIST_TEST = "fmnist-test"


@dataclass(frozen=True)
class EvalSet:
    name: str  # "fmnist-test", "photos", or the path of a folder or manifest
    images: np.ndarray  # (N, 28, 28) uint8, a light item on black, as in training
    labels: np.ndarray  # (N,) int64 class indices
    fingerprint: str  # sha256 over images and labels: the same set always scores the same
    sample_keys: list[str]  # how a page finds sample i again: test index, photo id, file path

    def __len__(self) -> int:
        return len(self.labels)


def fingerprint_of(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def fmnist_test_set() -> EvalSet:
    """The 10,000 test images, which no run trains or validates on."""
    split = load_split("test")
    return EvalSet(
        name=FMNIST_TEST,
        images=split.images,
        labels=split.labels,
        fingerprint=split.fingerprint,
        sample_keys=[str(i) for i in range(len(split))],
    )
