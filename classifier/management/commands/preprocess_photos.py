"""`manage.py preprocess_photos`: remake the 28x28 images of photos preprocessed by an older
version of dataset.photos (or all with --all), then queue their prediction."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from classifier.models import Photo, PhotoState
from classifier.selectors import photos as photo_selectors
from classifier.services import photos as photo_services
from dataset.photos import PREPROCESS_VERSION


class Command(BaseCommand):
    help = (f"Remake what the model sees for photos not preprocessed with the current version "
            f"(v{PREPROCESS_VERSION}) from their stored originals; their predictions are redone.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="every photo, whatever its version")
        parser.add_argument("--no-predict", action="store_true", help="don't queue a prediction job")

    def handle(self, *args, **options):
        if options["all"]:
            photos = Photo.objects.filter(state=PhotoState.READY)  # a preparing photo has no image yet
        else:
            photos = photo_selectors.photos_prepared_by_older_version()
        photos = photos.order_by("pk")
        total, failed = photos.count(), []
        with tqdm(photos.iterator(), total=total, unit="photo", desc="preprocessing", file=self.stderr._out,
                  disable=total == 0) as bar:
            count = photo_services.photos_preprocess_again(photos=bar, failed=failed)
        for line in failed:
            self.stderr.write(f"not remade: {line}")
        if count or options["verbosity"] > 0:  # -v0 (run.sh, at every start): quiet unless it did something
            self.stdout.write(f"preprocessed {count} photos again (v{PREPROCESS_VERSION})")
        if count and not options["no_predict"]:
            job = photo_services.photos_predict_new(user=None)
            self.stdout.write(f"prediction job {job.pk} queued" if job else
                              "no checkpoint of a succeeded run yet: photos are not predicted")
