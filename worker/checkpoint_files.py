"""Where a worker's checkpoint files are: the one place that knows.

Reading: checkpoint_path() gives a local file. With checkpoints on a local folder
(CHECKPOINT_ROOT) that is the stored file itself; with a bucket it is a copy fetched once,
verified against the sha256 recorded when the checkpoint was written, and kept in
CHECKPOINT_CACHE_DIR under that sha256 (the least recently used go past CHECKPOINT_CACHE_MAX_MB).
Every use still goes through the engine's verified load, which refuses a file whose sha256
differs from the one recorded.

Writing: training saves each epoch into a scratch folder on the worker's own disk
(scratch_folder()), and the training service stores it through STORAGES["checkpoints"]."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from classifier.models import Checkpoint
from engine.checkpoints import CheckpointRefused, checkpoint_changed, file_sha256


def checkpoint_path(checkpoint: Checkpoint) -> Path:
    storage = checkpoint.file.storage
    try:
        return Path(storage.path(checkpoint.file.name))
    except NotImplementedError:  # a bucket has no local paths
        return _cached_copy(checkpoint)


@contextlib.contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A folder on this worker's disk for files on their way into storage; removed afterwards."""
    root = Path(settings.CHECKPOINT_CACHE_DIR) / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=root) as folder:
        yield Path(folder)


def _cached_copy(checkpoint: Checkpoint) -> Path:
    cache = Path(settings.CHECKPOINT_CACHE_DIR)
    path = cache / f"{checkpoint.sha256}.pt"
    if path.is_file():
        if file_sha256(path) == checkpoint.sha256:
            os.utime(path)  # used now: trimmed last
            return path
        path.unlink(missing_ok=True)  # damaged on this disk: fetch it again
    cache.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache, prefix=".fetching-", suffix=".pt")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with checkpoint.file.storage.open(checkpoint.file.name, "rb") as stored:
                    for chunk in iter(lambda: stored.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except FileNotFoundError:
                raise CheckpointRefused(f"The checkpoint file {checkpoint.file.name} is missing.") from None
        if digest.hexdigest() != checkpoint.sha256:
            raise checkpoint_changed(checkpoint.file.name, actual=digest.hexdigest(), expected=checkpoint.sha256)
        # Atomic: a pool process reading the cache never sees half a file, and two fetching
        # the same checkpoint at once both end with the same bytes in place.
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    _trim_cache(cache, keep=path)
    return path


def _trim_cache(cache: Path, *, keep: Path) -> None:
    limit = settings.CHECKPOINT_CACHE_MAX_MB * 2**20
    files = []
    for path in cache.glob("*.pt"):
        with contextlib.suppress(FileNotFoundError):
            files.append((path.stat().st_mtime, path.stat().st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= limit:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
