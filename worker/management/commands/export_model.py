"""`manage.py export_model --checkpoint N --out DIR`: the checkpoint as a bundle that predicts
without the app (model.onnx, metadata.json, predict.py and the app's photos.py). It lives in
the worker because exporting runs the engine (torch) here."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier.models import Checkpoint
from engine.checkpoints import CheckpointRefused
from worker.export_job import bundle_for


class Command(BaseCommand):
    help = "Export a checkpoint as a bundle: model.onnx, metadata.json, predict.py, photos.py, requirements.txt."

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", type=int, required=True, metavar="ID")
        parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the bundle's folder (made if missing)")

    def handle(self, *args, checkpoint: int, out: Path, **options):
        found = Checkpoint.objects.select_related("run").filter(pk=checkpoint).first()
        if found is None:
            raise CommandError(f"No checkpoint #{checkpoint}.")
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} exists and is not a folder.")
        self.stderr.write(f"Exporting checkpoint #{found.pk} (run #{found.run_id}, epoch {found.epoch}) to {out} …")
        try:
            folder = bundle_for(found, out)
        except CheckpointRefused as exc:
            raise CommandError(str(exc)) from None
        for path in sorted(folder.iterdir()):
            self.stdout.write(f"{path}  {path.stat().st_size:,} bytes")
        self.stdout.write(f"Try it: python {folder / 'predict.py'} PHOTO...")
