"""Fashion-MNIST as uint8 numpy arrays, read straight from the idx files.

Looked for, in order: ``$FMNIST_DIR``, the project's data folder (``var/data``, where a
download lands), and Debian's ``/usr/share/datasets/fashion-mnist`` (package
``dataset-fashion-mnist``). In each folder the four idx files may sit at the top or in
torchvision's ``FashionMNIST/raw/`` layout, gzipped or not. Reading idx directly means we
don't depend on torchvision's checksums, which Debian's re-gzipped files fail.

    python -m dataset.fashion_mnist            # say where the data is, or how to get it
    python -m dataset.fashion_mnist --download # fetch it with torchvision (needs internet)
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT_DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "data"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TEST_SIZE = 10_000
TRAIN_SIZE = 60_000


class DatasetNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Split:
    """One split: images (N, 28, 28) uint8, labels (N,) int64, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    fingerprint: str  # sha256 of the decompressed idx bytes, images then labels
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def candidate_dirs() -> list[tuple[str, Path]]:
    """The folders searched, each with the name a user would recognise it by."""
    dirs = []
    if os.environ.get("FMNIST_DIR"):
        dirs.append(("$FMNIST_DIR", Path(os.environ["FMNIST_DIR"])))
    dirs.append(("the project's data folder", PROJECT_DATA_DIR))
    dirs.append(("Debian's dataset-fashion-mnist package", DEBIAN_DIR))
    return dirs


def _find_file(folder: Path, name: str) -> Path | None:
    for sub in (folder, folder / "FashionMNIST" / "raw"):
        for candidate in (sub / name, sub / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def find_data_dir() -> Path:
    """The first folder that holds all four idx files, or a DatasetNotFound naming all three."""
    names = [name for pair in SPLIT_FILES.values() for name in pair]
    for _, folder in candidate_dirs():
        if all(_find_file(folder, name) for name in names):
            return folder
    searched = "; ".join(f"{label} ({folder})" for label, folder in candidate_dirs())
    if "FMNIST_DIR" not in os.environ:
        searched = "$FMNIST_DIR (not set); " + searched
    raise DatasetNotFound(
        "Fashion-MNIST not found. Looked in: "
        f"{searched}. Fix: `apt-get install dataset-fashion-mnist`, or set FMNIST_DIR to a "
        "folder with the four idx files, or run `python -m dataset.fashion_mnist --download` "
        "where the network allows."
    )


def _read_idx(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return f.read()


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    # idx header: two zero bytes, a type code (0x08 = uint8), the number of dimensions,
    # then one big-endian uint32 per dimension.
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {shape}, found {data.size} bytes")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def load_split(split: str, data_dir: str | None = None) -> Split:
    """Load 'train' or 'test'. Cached per process: both splits together are ~55 MB."""
    folder = Path(data_dir) if data_dir else find_data_dir()
    image_name, label_name = SPLIT_FILES[split]
    image_path, label_path = _find_file(folder, image_name), _find_file(folder, label_name)
    if image_path is None or label_path is None:
        raise DatasetNotFound(f"{folder} lacks the {split} idx files")
    image_bytes, label_bytes = _read_idx(image_path), _read_idx(label_path)
    images = _parse_idx(image_bytes, image_path)
    labels = _parse_idx(label_bytes, label_path).astype(np.int64)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"{folder}: {split} images {images.shape} don't match labels {labels.shape}")
    digest = hashlib.sha256(image_bytes)
    digest.update(label_bytes)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Split(images=images, labels=labels, fingerprint=digest.hexdigest(), source=str(folder))


def train_val_indices(n: int, *, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation split from the training set, the same way for the same seed."""
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1}, got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


@dataclass(frozen=True)
class TrainingData:
    """What one run trains and validates on, carved from the training split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    fingerprint: str


def training_data(*, val_size: int, seed: int, limit: int | None = None) -> TrainingData:
    """The validation split is carved first, so a run's --limit never changes its val set."""
    split = load_split("train")
    train_idx, val_idx = train_val_indices(len(split), val_size=val_size, seed=seed)
    if limit is not None:
        train_idx = train_idx[:limit]
    return TrainingData(
        train_images=split.images[train_idx],
        train_labels=split.labels[train_idx],
        val_images=split.images[val_idx],
        val_labels=split.labels[val_idx],
        fingerprint=split.fingerprint,
    )


def download(root: Path = PROJECT_DATA_DIR) -> Path:
    """Fetch with torchvision into the project's data folder (it verifies checksums)."""
    from torchvision.datasets import FashionMNIST  # only here: the loader itself needs no torch

    for train in (True, False):
        FashionMNIST(root=str(root), train=train, download=True)
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Find (or download) Fashion-MNIST.")
    parser.add_argument("--download", action="store_true", help="fetch it with torchvision")
    args = parser.parse_args(argv)
    if args.download:
        download()
    try:
        folder = find_data_dir()
    except DatasetNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
