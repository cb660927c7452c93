"""worker.checkpoint_files: where a worker's checkpoint files are, on disk or from the bucket
(a real S3 server on loopback), and its cache of fetched ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.checkpoints import CheckpointChanged, CheckpointRefused
from tests.factories import checkpoint_with_file
from tests.s3_server import BUCKET
from worker.checkpoint_files import checkpoint_path


def test_on_local_folders_the_stored_file_is_read_in_place(db, settings):
    checkpoint = checkpoint_with_file()
    assert checkpoint_path(checkpoint) == Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
    assert not Path(settings.CHECKPOINT_CACHE_DIR).exists()


def test_from_a_bucket_a_checkpoint_is_fetched_once_verified_and_kept_by_its_sha256(db, web_on_the_bucket, s3,
                                                                                     settings):
    checkpoint = checkpoint_with_file()  # written through STORAGES["checkpoints"]: the bucket
    path = checkpoint_path(checkpoint)
    assert path == Path(settings.CHECKPOINT_CACHE_DIR) / f"{checkpoint.sha256}.pt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == checkpoint.sha256
    inode = path.stat().st_ino
    s3.client().delete_object(Bucket=BUCKET, Key=f"checkpoints/{checkpoint.file.name}")
    assert checkpoint_path(checkpoint).stat().st_ino == inode  # from the cache: the bucket isn't asked
    path.write_bytes(b"damaged on this disk")
    with pytest.raises(CheckpointRefused, match="is missing"):  # so it is fetched again, and is gone
        checkpoint_path(checkpoint)
    assert not path.exists()


def test_a_changed_object_is_refused_and_not_kept(db, web_on_the_bucket, s3, settings):
    checkpoint = checkpoint_with_file()
    s3.client().put_object(Bucket=BUCKET, Key=f"checkpoints/{checkpoint.file.name}", Body=b"other bytes")
    with pytest.raises(CheckpointChanged, match="has changed since it was written"):
        checkpoint_path(checkpoint)
    assert not list(Path(settings.CHECKPOINT_CACHE_DIR).iterdir())


def test_the_cache_lets_the_least_recently_used_go_past_its_size(db, web_on_the_bucket, s3, settings):
    settings.CHECKPOINT_CACHE_MAX_MB = 0  # room for the one in use only
    first, second = checkpoint_with_file(), checkpoint_with_file()
    kept = checkpoint_path(first)
    assert checkpoint_path(second).exists() and not kept.exists()
