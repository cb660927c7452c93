import gzip

import numpy as np
import pytest

from dataset import fashion_mnist as fm


def test_it_loads_the_real_splits_with_a_stable_fingerprint():
    train, test = fm.load_split("train"), fm.load_split("test")
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28) and set(np.unique(test.labels)) == set(range(10))
    assert train.fingerprint != test.fingerprint and len(train.fingerprint) == 64
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]  # the first labels of Fashion-MNIST's train set


def test_validation_split_is_deterministic_and_disjoint():
    a_train, a_val = fm.train_val_indices(1000, val_size=100, seed=3)
    b_train, b_val = fm.train_val_indices(1000, val_size=100, seed=3)
    _, c_val = fm.train_val_indices(1000, val_size=100, seed=4)
    assert np.array_equal(a_val, b_val) and not np.array_equal(a_val, c_val)
    assert len(np.intersect1d(a_train, a_val)) == 0 and len(a_train) + len(a_val) == 1000


def test_limit_never_changes_the_validation_images():
    full = fm.training_data(val_size=500, seed=1)
    limited = fm.training_data(val_size=500, seed=1, limit=300)
    assert np.array_equal(full.val_images, limited.val_images) and len(limited.train_labels) == 300


def _write_idx(folder, name, array, gz):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path = folder / (name + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)


def test_fmnist_dir_wins_and_torchvision_layout_is_understood(tmp_path, monkeypatch):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    for split, gz in (("train", False), ("t10k", True)):
        _write_idx(raw, f"{split}-images-idx3-ubyte", images, gz)
        _write_idx(raw, f"{split}-labels-idx1-ubyte", np.array([1, 2, 3]), gz)
    monkeypatch.setenv("FMNIST_DIR", str(tmp_path))
    assert fm.find_data_dir() == tmp_path
    split = fm.load_split("test", str(tmp_path))
    assert split.labels.tolist() == [1, 2, 3] and np.array_equal(split.images, images)


def test_a_missing_dataset_names_all_three_places(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setattr(fm, "PROJECT_DATA_DIR", tmp_path / "project")
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    with pytest.raises(fm.DatasetNotFound) as error:
        fm.find_data_dir()
    message = str(error.value)
    assert "$FMNIST_DIR" in message and "project's data folder" in message and "dataset-fashion-mnist" in message


def test_a_truncated_idx_file_is_an_error_not_garbage(tmp_path):
    path = tmp_path / "broken-idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated"):
        fm._parse_idx(path.read_bytes(), path)
