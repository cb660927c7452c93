"""Where a Checkpoint record meets the exporter: its verified file in, a bundle out."""

from __future__ import annotations

from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.models import Checkpoint
from classifier.selectors.exports import export_about, export_folder_name
from engine.export import bundle_write, bundle_zip
from worker.checkpoint_files import checkpoint_path, scratch_folder


def bundle_for(checkpoint: Checkpoint, out_dir: Path) -> Path:
    """Write the checkpoint's bundle into out_dir (its file checked against the recorded sha256)."""
    return bundle_write(checkpoint_file=checkpoint_path(checkpoint), expected_sha256=checkpoint.sha256,
                        out_dir=out_dir, about=export_about(checkpoint=checkpoint))


def bundle_store(checkpoint: Checkpoint, name: str) -> str:
    """Make the bundle's zip and keep it in storage under `name` (unless someone just did)."""
    if default_storage.exists(name):
        return name
    with scratch_folder("export-") as folder:
        bundle_for(checkpoint, folder / "bundle")
        data = bundle_zip(folder / "bundle", top=export_folder_name(checkpoint=checkpoint))
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    return name
