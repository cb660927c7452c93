"""Labelled photos on disk as an EvalSet: a folder of class-named folders, or a CSV manifest.

    photos/                         manifest.csv
      tshirt_top/a.jpg                file,label_index          (or file,label)
      Trouser/b.png                   shop/a.jpg,0
      pants/c.webp                    home/b.png,1

A folder's subfolders are matched to classes leniently (see CLASS_ALIASES); a manifest's
``file`` paths are relative to the manifest's own folder, and its label comes from
``label_index`` (0-9) or else from ``label`` (a name, matched the same way). Files that
cannot be read, or whose label is missing or unknown, are skipped and reported, never fatal:
one broken file should not stop a whole evaluation. No Django and no torch here.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
from PIL import Image

from dataset.classes import CLASS_NAMES, NUM_CLASSES
from dataset.eval_sets import EvalSet, fingerprint_of
from dataset.photos import PhotoUnreadable, open_photo, preprocess

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
UNLABELLED = "unlabelled"  # export_photos' folder for photos nobody has labelled yet


def _key(name: str) -> str:
    """'T-shirt/top', 'tshirt_top', 'T Shirt Top' -> 'tshirttop'; a plural's (e)s dropped."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key.endswith("sses"):  # dresses
        return key[:-2]
    return key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key


# Names people give the classes, beyond the class names themselves and their digits. The
# home-photo set's own names (t-shirt, pants, outwear) are here; add a name when a real folder
# needs it, never one that could mean two classes ("top", "shoe", "jacket or shirt").
CLASS_ALIASES: dict[str, int] = {
    **{_key(name): index for index, name in enumerate(CLASS_NAMES)},
    **{str(index): index for index in range(NUM_CLASSES)},
    "tshirt": 0, "tee": 0, "teeshirt": 0, "top": 0,
    "pant": 1, "jean": 1,
    "sweater": 2, "jumper": 2, "hoodie": 2,
    "outwear": 4, "outerwear": 4, "jacket": 4,
    "trainer": 7,
    "handbag": 8,
    "boot": 9,
}


def class_index(name: str) -> int | None:
    """The class a folder or label name means, or None if it means none (or is blank)."""
    return CLASS_ALIASES.get(_key(name)) if name.strip() else None


def class_slug(index: int) -> str:
    """The folder name export_photos writes: 'tshirt_top', 'ankle_boot'; class_index reads it."""
    return re.sub(r"[^a-z0-9]+", "_", CLASS_NAMES[index].lower().replace("-", "")).strip("_")


@dataclass(frozen=True)
class PhotoFile:
    path: Path
    key: str  # the path relative to the folder or manifest: how a report names the sample
    label: int | None
    row: dict[str, str] | None = None  # the manifest row it came from, for filtering


@dataclass(frozen=True)
class Skipped:
    key: str
    reason: str


def read_manifest(csv_path: Path, skipped: list[Skipped] | None = None) -> list[PhotoFile]:
    """The rows of a CSV manifest with a ``file`` column; labels from ``label_index`` or ``label``."""
    csv_path = Path(csv_path)
    files = []
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if "file" not in (reader.fieldnames or []):
            raise ValueError(f"{csv_path} has no 'file' column (found: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            key = (row.get("file") or "").strip()
            if not key:
                continue
            label, problem = _row_label(row)
            if problem:
                _skip(skipped, key, problem)
                continue
            files.append(PhotoFile(path=csv_path.parent / key, key=key, label=label, row=row))
    return files


def _row_label(row: dict[str, str]) -> tuple[int | None, str | None]:
    raw_index = (row.get("label_index") or "").strip()
    if raw_index:
        if raw_index.isdigit() and int(raw_index) < NUM_CLASSES:
            return int(raw_index), None
        return None, f"label_index {raw_index!r} is not a class index 0-{NUM_CLASSES - 1}"
    raw_name = (row.get("label") or "").strip()
    if raw_name and class_index(raw_name) is None:
        return None, f"label {raw_name!r} is not a class name"
    return (class_index(raw_name) if raw_name else None), None


def read_class_folders(folder: Path, skipped: list[Skipped] | None = None) -> list[PhotoFile]:
    """Image files under each class-named subfolder (at any depth below it), sorted."""
    folder = Path(folder)
    files = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = None if _key(sub.name) == _key(UNLABELLED) else class_index(sub.name)
        if label is None and _key(sub.name) != _key(UNLABELLED):
            _skip(skipped, sub.name + "/", "the folder's name is not a class name")
            continue
        for path in sorted(sub.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                files.append(PhotoFile(path=path, key=path.relative_to(folder).as_posix(), label=label))
    return files


def list_photo_files(path: Path, skipped: list[Skipped] | None = None) -> list[PhotoFile]:
    """A CSV manifest, or a folder of class-named folders; labels may be None (unlabelled)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_manifest(path, skipped)
    if path.is_dir():
        return read_class_folders(path, skipped)
    raise FileNotFoundError(f"{path} is neither a folder of class folders nor a .csv manifest")


def build_eval_set(name: str, files: Iterable[PhotoFile], *,
                   transform: Callable[[Image.Image], np.ndarray] = preprocess,
                   skipped: list[Skipped] | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> EvalSet:
    """Read and preprocess each labelled file; skip (and report) what cannot be read.
    on_progress(files_done, files_total) after each file: preprocessing takes ~75 ms a photo,
    minutes for a large set, and a job must say it is alive meanwhile."""
    images, labels, keys = [], [], []
    files = list(files)
    for done, item in enumerate(files, 1):
        if on_progress is not None:
            on_progress(done, len(files))
        if item.label is None:
            _skip(skipped, item.key, "no label")
            continue
        try:
            with open_photo(item.path) as image:
                images.append(transform(image))
        except (PhotoUnreadable, OSError) as exc:
            _skip(skipped, item.key, str(exc))
            continue
        labels.append(item.label)
        keys.append(item.key)
    images_array = np.stack(images) if images else np.zeros((0, 28, 28), dtype=np.uint8)
    labels_array = np.asarray(labels, dtype=np.int64)
    return EvalSet(name=name, images=images_array, labels=labels_array,
                   fingerprint=fingerprint_of(images_array, labels_array), sample_keys=keys)


def parse_set_name(name: str | Path) -> tuple[Path, dict[str, str]]:
    """A set's name: a path, or a manifest's path with filters on its columns, such as
    '/data/home/manifest.csv?split=validation' (only the rows whose split is 'validation')."""
    path, _, query = str(name).partition("?")
    return Path(path), dict(parse_qsl(query, keep_blank_values=True))


def load_labelled_set(name: Path | str, *, transform: Callable[[Image.Image], np.ndarray] = preprocess,
                      skipped: list[Skipped] | None = None,
                      on_progress: Callable[[int, int], None] | None = None) -> EvalSet:
    """An outside labelled set (folder or manifest, see parse_set_name) as an EvalSet, preprocessed
    as uploads are. Pass a list as ``skipped`` to learn which files were left out and why (they
    are logged as warnings too)."""
    path, filters = parse_set_name(name)
    files = list_photo_files(path, skipped)
    if filters:
        if path.suffix.lower() != ".csv":
            raise ValueError("column filters (?column=value) apply to CSV manifests only")
        files = [f for f in files if f.row is not None and all(f.row.get(k) == v for k, v in filters.items())]
    return build_eval_set(str(name), files, transform=transform, skipped=skipped, on_progress=on_progress)


def file_for_key(dataset_path: Path | str, key: str) -> Path:
    """The file behind sample ``key`` of a set loaded from ``dataset_path``; never a path outside
    that set's folder (keys come from reports, which pages pass around)."""
    path, _ = parse_set_name(dataset_path)
    base = (path.parent if path.suffix.lower() == ".csv" else path).resolve()
    candidate = (base / key).resolve()
    if base not in candidate.parents or candidate.suffix.lower() not in IMAGE_SUFFIXES:
        raise FileNotFoundError(f"{key} is not a photo of {dataset_path}")
    return candidate


def _skip(skipped: list[Skipped] | None, key: str, reason: str) -> None:
    logger.warning("skipped %s: %s", key, reason)
    if skipped is not None:
        skipped.append(Skipped(key=key, reason=reason))
