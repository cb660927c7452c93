"""`manage.py import_photos PATH`: bring in a folder of class-named folders or a CSV manifest,
through the same upload and labelling services as the web pages."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier.management.users import command_user
from classifier.services import photos as photo_services
from dataset.photo_sets import PhotoFile, list_photo_files


def row_source(item: PhotoFile, default: str) -> str:
    """A manifest row's own source (its ``source`` column, else ``source_repo``), else the default."""
    row = item.row or {}
    return (row.get("source") or row.get("source_repo") or "").strip() or default


class Command(BaseCommand):
    help = ("Import photos from a folder of class-named folders (tshirt_top/, trouser/, ...; 'unlabelled/' "
            "for none) or a CSV manifest with columns file and label_index (or label). Labels are recorded as "
            "corrections; the new photos are then queued for prediction.")

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--user", help="record the photos and labels as this username's")
        parser.add_argument("--no-predict", action="store_true", help="don't queue a prediction job")
        parser.add_argument("--source", default="",
                            help="where the photos come from (a shop, a home), for rows without a source or "
                                 "source_repo column of their own")
        parser.add_argument("--tag", action="append", default=[], help="tag every photo (repeat for several)")

    def handle(self, *args, **options):
        user = command_user(options["user"])
        skipped = []
        try:
            files = list_photo_files(options["path"], skipped)
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        for item in skipped:
            self.stderr.write(f"skipped {item.key}: {item.reason}")
        try:
            tags = photo_services.parse_tags(options["tag"])
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        imported = labelled = refused = 0
        source = f"import {options['path'].name}"[:100]  # the corrections' "how"
        batch = photo_services.photo_batch_for_import(name=str(options["path"]), user=user)
        err = self.stderr._out
        # Each photo is decoded and cut out (GrabCut) like an upload: thousands take minutes.
        with tqdm(files, unit="photo", desc="importing", file=err, disable=not files) as bar:
            for item in bar:
                try:
                    with open(item.path, "rb") as handle:
                        photo = photo_services.photo_upload(file=File(handle, name=item.path.name), user=user,
                                                            batch=batch, source=row_source(item, options["source"]),
                                                            tags=tags)
                except photo_services.PhotoRejected as exc:
                    refused += 1
                    bar.write(f"refused {item.key}: {item.path.name} {exc}", file=err)
                    continue
                except OSError as exc:
                    refused += 1
                    bar.write(f"refused {item.key}: {exc}", file=err)
                    continue
                imported += 1
                if not photo.is_ready:
                    bar.write(f"stored {item.key} as photo #{photo.pk}, but it could not be prepared: "
                              f"{photo.preparation_error}", file=err)
                elif item.label is not None:
                    photo_services.photo_label_set(photo=photo, label=item.label, user=user, source=source)
                    labelled += 1
        self.stdout.write(f"imported {imported} photos ({labelled} labelled), refused {refused}, "
                          f"skipped {len(skipped)}; batch {batch.pk}")
        if imported and not options["no_predict"]:
            job = photo_services.photos_predict_new(user=user)
            self.stdout.write(f"prediction job {job.pk} queued" if job else
                              "no checkpoint of a succeeded run yet: photos are not predicted")
