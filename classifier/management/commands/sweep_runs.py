from django.core.management.base import BaseCommand

from classifier.services.evaluation import evaluation_reports_sweep
from classifier.services.photos import prediction_jobs_sweep
from classifier.services.training import training_runs_sweep


class Command(BaseCommand):
    help = ("Mark running runs, evaluation reports and prediction jobs whose worker stopped sending heartbeats "
            "as failed (workers do this too).")

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, help="seconds of silence (default RUN_STALE_AFTER_S)")

    def handle(self, *args, **options):
        stale_after = options["stale_after"]
        runs = training_runs_sweep(stale_after_s=stale_after)
        reports = evaluation_reports_sweep(stale_after_s=stale_after)
        jobs = prediction_jobs_sweep(stale_after_s=stale_after)
        self.stdout.write(f"marked failed: {', '.join(map(str, runs)) or 'none'}")
        self.stdout.write(f"reports marked failed: {', '.join(map(str, reports)) or 'none'}")
        self.stdout.write(f"prediction jobs marked failed: {', '.join(map(str, jobs)) or 'none'}")
