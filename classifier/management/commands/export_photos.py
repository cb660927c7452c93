"""`manage.py export_photos OUT_DIR`: the photos as class folders plus labels.csv, in the layout
import_photos and `evaluate --dataset PATH` read back."""

import csv
from pathlib import Path

from django.core.exceptions import SuspiciousFileOperation
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import get_valid_filename

from classifier.models import Photo
from dataset.photo_sets import UNLABELLED, class_slug


def _safe_stem(name: str) -> str:
    """The uploader's name as part of a file name, or '' when nothing safe is left of it."""
    try:
        return get_valid_filename(Path(name).stem)[:60] if name else ""
    except SuspiciousFileOperation:
        return ""


class Command(BaseCommand):
    help = ("Write photos (as stored: upright, re-encoded) into OUT_DIR/<class>/ (unlabelled/ for photos "
            "without a label) and OUT_DIR/labels.csv with columns file,label,label_index.")

    def add_arguments(self, parser):
        parser.add_argument("out_dir", type=Path)
        parser.add_argument("--only-labelled", action="store_true", help="leave out photos without a label")

    def handle(self, *args, **options):
        out: Path = options["out_dir"]
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} is not empty; choose a new folder")
        photos = Photo.objects.order_by("pk")
        if options["only_labelled"]:
            photos = photos.filter(label__isnull=False)
        rows = []
        for photo in photos.iterator():
            folder = class_slug(photo.label) if photo.label is not None else UNLABELLED
            stem = _safe_stem(photo.original_name)
            relative = f"{folder}/{photo.pk:06d}{'-' + stem if stem else ''}{Path(photo.original.name).suffix}"
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with photo.original.open("rb") as source:
                target.write_bytes(source.read())
            rows.append({"file": relative, "label": folder if photo.label is not None else "",
                         "label_index": "" if photo.label is None else photo.label})
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["file", "label", "label_index"])
            writer.writeheader()
            writer.writerows(rows)
        self.stdout.write(f"exported {len(rows)} photos to {out}")
