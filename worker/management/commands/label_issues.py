"""`manage.py label_issues`: score every labelled photo for how likely its label is wrong, in this
process (through the same job wrapper and code a worker runs), and list the suspects. It lives in
the worker because it runs the engine here."""

import json
from functools import partial
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier.management.users import command_user
from classifier.models import DEFAULT_FOLDS, Checkpoint, JobStatus, LabelIssueJob
from classifier.selectors import label_issues as label_issue_selectors
from classifier.services import label_issues as label_issue_services
from dataset.classes import CLASS_NAMES
from worker.jobs import run_job
from worker.label_issues_job import find_and_record


class Command(BaseCommand):
    help = ("Find possibly mislabelled photos: score every labelled photo with a model that never trained on it "
            "(cross-fitted fine-tunes for the photos the model learnt from), as the worker would, and list the "
            "suspects, most suspect first.")

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", type=int, metavar="ID",
                            help="the model whose view is examined (default: the one that predicts the photos)")
        parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                            help=f"cross-fitted fine-tunes for the photos it trained on (default {DEFAULT_FOLDS}; "
                                 "0: its base model scores them)")
        parser.add_argument("--json", metavar="FILE",
                            help='write the suspects, most suspect first, as [{"photo", "label", "suspected", "score"}]')
        parser.add_argument("--all", action="store_true", help="with --json: every scored photo, not only the suspects")
        parser.add_argument("--user", help="record the job as requested by this (staff) username")

    def handle(self, *args, **options):
        checkpoint = None
        if options["checkpoint"] is not None:
            checkpoint = Checkpoint.objects.select_related("run").filter(pk=options["checkpoint"]).first()
            if checkpoint is None:
                raise CommandError(f"no checkpoint with id {options['checkpoint']}")
        try:
            job = label_issue_services.label_issues_find(user=self._user(options["user"]), checkpoint=checkpoint,
                                                         folds=options["folds"], enqueue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        with tqdm(total=100, desc=f"label issues {job.pk}", unit="%", file=self.stderr._out,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total} [{elapsed}<{remaining}]") as bar:
            def on_progress(fraction: float) -> None:
                bar.update(100 * fraction - bar.n)

            job = run_job(LabelIssueJob, job.pk, partial(find_and_record, on_progress=on_progress))
            if job is not None and job.status == JobStatus.SUCCEEDED:
                bar.update(100 - bar.n)
        if job is None or job.status != JobStatus.SUCCEEDED:
            reason = job.error if job is not None and job.error else "it did not run"
            raise CommandError(f"label issue job {job.pk if job else '?'} failed: {reason}")
        scores = (list(job.scores.order_by("-score", "photo_id")) if options["all"]
                  else label_issue_selectors.label_suspects(job=job))
        suspects = label_issue_selectors.label_suspects(job=job)
        self.stdout.write(f"label issue job {job.pk}: {job.total} labelled photos scored, {len(suspects)} possibly "
                          f"mislabelled ({job.duration().total_seconds():.1f} s)")
        for score in suspects[:20]:
            self.stdout.write(f"  photo #{score.photo_id}: {CLASS_NAMES[score.label]}, looks like "
                              f"{CLASS_NAMES[score.suspected]} (score {score.score:.3f})")
        if options["json"]:
            rows = [{"photo": s.photo_id, "label": CLASS_NAMES[s.label], "suspected": CLASS_NAMES[s.suspected],
                     "score": s.score} for s in scores]
            try:
                Path(options["json"]).write_text(json.dumps(rows, indent=2) + "\n")
            except OSError as exc:
                raise CommandError(f"could not write {options['json']}: {exc}") from None
            self.stdout.write(f"{len(rows)} {'photos' if options['all'] else 'suspects'} written to {options['json']}")

    def _user(self, username: str | None):
        return command_user(username, staff_to="look for mislabelled photos")
