"""Where checkpoint files are stored: STORAGES["checkpoints"] (CHECKPOINT_ROOT on disk, or the
bucket; see settings). Photos and thumbnails use STORAGES["default"] (default_storage)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

CHECKPOINTS = "checkpoints"


class CheckpointFileSystemStorage(FileSystemStorage):
    """Files under settings.CHECKPOINT_ROOT, read when used rather than at import, the way
    FileSystemStorage reads MEDIA_ROOT, so tests and deployments can move it."""

    @property
    def base_location(self):
        return self._value_or_setting(self._location, settings.CHECKPOINT_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)


class _CheckpointStorage(LazyObject):
    """storages["checkpoints"], looked up when first used, as default_storage does for "default"."""

    def _setup(self):
        self._wrapped = storages[CHECKPOINTS]


checkpoint_storage = _CheckpointStorage()


@receiver(setting_changed)
def _storages_changed(*, setting, **_kwargs) -> None:
    # Django resets default_storage when STORAGES changes (tests); this one likewise.
    if setting == "STORAGES":
        checkpoint_storage._wrapped = empty
