"""`manage.py sweep_jobs`: what workers and pages do every minute, on demand."""

from django.core.management.base import BaseCommand

from classifier.services.jobs import jobs_sweep


class Command(BaseCommand):
    help = ("Settle jobs (runs, reports, prediction jobs) whose worker stopped sending heartbeats: fail them, or "
            "start them again where that is safe; and send again queued jobs whose message may have been lost. "
            "Workers and the web do this every minute too.")

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, help="seconds of silence (default JOB_STALE_AFTER_S)")

    def handle(self, *args, **options):
        for line in jobs_sweep(stale_after_s=options["stale_after"]).lines():
            self.stdout.write(line)
