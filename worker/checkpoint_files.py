"""Where a worker finds a checkpoint's file. Every use of it goes through the engine's
verified load, which refuses a file whose sha256 differs from the one recorded."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from classifier.models import Checkpoint


def checkpoint_path(checkpoint: Checkpoint) -> Path:
    return Path(settings.CHECKPOINT_ROOT) / checkpoint.file.name
