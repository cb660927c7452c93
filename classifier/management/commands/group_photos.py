"""`manage.py group_photos`: group near-duplicate photos and put each group on one side of the split."""

from django.core.management.base import BaseCommand

from classifier.services import photos as photo_services


class Command(BaseCommand):
    help = ("Group photos that look the same (the same item from nearly the same view) and put each group "
            "on its first photo's side of the train/held-out split. Uploads do this as they come; run it "
            "once for photos stored before, or after importing from several places at once.")

    def handle(self, *args, **options):
        result = photo_services.photos_group_near_duplicates()
        for line in result.failed:
            self.stderr.write(f"not grouped: {line}")
        self.stdout.write(f"{result.groups} groups of near-duplicates ({result.grouped} photos); "
                          f"{len(result.moved)} photos moved to their group's side of the split"
                          + (f": {', '.join(f'#{pk}' for pk in result.moved[:50])}" if result.moved else ""))
