"""What an exported bundle says of its checkpoint, and where the web keeps a bundle once made."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.utils import timezone

import dataset.photos
from classifier.models import Checkpoint
from classifier.selectors.scorecards import checkpoint_scorecard
from dataset.photos import PREPROCESS_VERSION

# engine/bundle: predict.py, requirements.txt and README.md, shipped in every bundle.
BUNDLE_SOURCES = Path(settings.BASE_DIR) / "engine" / "bundle"


def export_about(*, checkpoint: Checkpoint) -> dict:
    """The app's knowledge of the checkpoint, for the bundle's metadata.json."""
    card = checkpoint_scorecard(checkpoint=checkpoint)
    return {
        "checkpoint": checkpoint.pk,
        "run": checkpoint.run_id,
        "preset": checkpoint.run.preset,
        "val_acc": checkpoint.val_acc,
        "scorecard": [{"dataset": d.dataset_name, "label": d.label, "report": d.report.pk if d.report else None,
                       "accuracy": d.accuracy, "n": d.n} for d in card.domains],
        "exported_at": timezone.now().isoformat(),
    }


def export_folder_name(*, checkpoint: Checkpoint) -> str:
    return f"fmnist-checkpoint-{checkpoint.pk}"


def _bundle_sources_digest() -> str:
    """Of the files every bundle ships as they are (read, not imported: exporting needs torch),
    so a new version of predict.py or of the preprocessing makes new bundles."""
    digest = hashlib.sha256()
    for path in [Path(dataset.photos.__file__), *sorted(BUNDLE_SOURCES.iterdir())]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def export_storage_name(*, checkpoint: Checkpoint) -> str:
    """Where its zip is kept (default storage, beside the photos): by the checkpoint's bytes and
    the bundle's own files, so it is made again only when one of them changed."""
    key = hashlib.sha256(f"{checkpoint.sha256} {_bundle_sources_digest()}".encode()).hexdigest()[:16]
    return f"exports/{export_folder_name(checkpoint=checkpoint)}-v{PREPROCESS_VERSION}-{key}.zip"
