"""What an exported bundle says of its checkpoint, and where the web keeps a bundle once made."""

from __future__ import annotations

from django.utils import timezone

from classifier.models import Checkpoint
from classifier.selectors.scorecards import checkpoint_scorecard
from dataset.photos import PREPROCESS_VERSION


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


def export_storage_name(*, checkpoint: Checkpoint) -> str:
    """Where its zip is kept (default storage, beside the photos): by the checkpoint's bytes and
    the preprocessing version, so a changed preprocessing makes a new bundle."""
    return f"exports/{export_folder_name(checkpoint=checkpoint)}-{checkpoint.sha256[:16]}-v{PREPROCESS_VERSION}.zip"
