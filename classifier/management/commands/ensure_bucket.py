"""`manage.py ensure_bucket`: create the bucket named by AWS_STORAGE_BUCKET_NAME if it is missing."""

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Create the bucket that photos and checkpoints are stored in (AWS_STORAGE_BUCKET_NAME) if it does not "
            "exist yet, as on a new MinIO; without a bucket (files on local folders) there is nothing to do.")

    def handle(self, *args, **options):
        name = settings.AWS_STORAGE_BUCKET_NAME
        if not name:
            self.stdout.write("No AWS_STORAGE_BUCKET_NAME: files are stored in local folders.")
            return
        client = default_storage.connection.meta.client
        try:
            client.head_bucket(Bucket=name)
            self.stdout.write(f"Bucket {name} is there.")
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise CommandError(f"Bucket {name} can't be used: {exc}") from None
        except BotoCoreError as exc:  # no answer at AWS_S3_ENDPOINT_URL, say
            raise CommandError(f"Bucket {name} can't be reached: {exc}") from None
        region = settings.AWS_S3_REGION_NAME
        # Outside us-east-1 S3 wants the region said again; MinIO takes either.
        extra = {"CreateBucketConfiguration": {"LocationConstraint": region}} if region and region != "us-east-1" else {}
        client.create_bucket(Bucket=name, **extra)
        self.stdout.write(f"Created the bucket {name}.")
