"""`manage.py evaluate`: score a checkpoint on the test set and keep the report, in this process
(through the same job wrapper and code a worker runs) or, with --async, on a worker. It lives
in the worker because it runs the engine here."""

import json
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier import formatting
from classifier.management.users import command_user
from classifier.models import DATASET_LABELS, Checkpoint, EvaluationReport, JobStatus, ReportOrigin, TrainingRun
from classifier.selectors import reports as report_selectors
from classifier.selectors import runs as run_selectors
from classifier.services import evaluation as evaluation_services
from classifier.services.jobs import QUEUE_UNREACHABLE, job_send_failed
from dataset.eval_sets import FMNIST_TEST
from dataset.photo_sets import parse_set_name
from worker.evaluation_job import evaluate_and_record
from worker.jobs import run_job


class Command(BaseCommand):
    help = ("Evaluate a checkpoint on a dataset (default: the 10,000 Fashion-MNIST test images), print the "
            "figures and save the report, as the worker would.")

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", type=int, metavar="ID", help="the run's best checkpoint")
        which.add_argument("--checkpoint", type=int, metavar="ID", help="this checkpoint")
        which.add_argument("--latest", action="store_true",
                           help="the best checkpoint of the latest succeeded run")
        parser.add_argument("--dataset", default=FMNIST_TEST,
                            help=f"what to score on: {FMNIST_TEST} (default), photos (the held-out labelled photos), "
                                 "or a folder of class-named folders or a CSV manifest (columns file, label_index)")
        parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                            help="with a CSV manifest: only its rows whose COLUMN is VALUE (e.g. split=validation)")
        parser.add_argument("--json", metavar="PATH", help="also write the figures to this file as JSON")
        parser.add_argument("--async", action="store_true", dest="run_async",
                            help="queue it on a worker and return at once")
        parser.add_argument("--user", help="record the report as requested by this (staff) username")

    def handle(self, *args, **options):
        checkpoint = self._checkpoint(options)
        user = self._user(options["user"])
        dataset = self._dataset_name(options["dataset"], options["where"])
        try:
            report = evaluation_services.evaluation_report_create(
                checkpoint=checkpoint, dataset_name=dataset, requested_by=user,
                origin=ReportOrigin.COMMAND, enqueue=options["run_async"], allow_paths=True,
            )
        except evaluation_services.UnknownDataset as exc:
            raise CommandError(str(exc)) from None
        if options["run_async"]:
            self.stdout.write(f"report {report.pk} {report.status} (run {checkpoint.run_id}, epoch {checkpoint.epoch}, "
                              f"{report.dataset_name})")
            if job_send_failed(report):
                self.stderr.write(QUEUE_UNREACHABLE)
            return
        with tqdm(desc=f"report {report.pk}", unit="img", file=self.stderr._out) as bar:
            def on_progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            report = run_job(EvaluationReport, report.pk, partial(evaluate_and_record, on_progress=on_progress))
        if report is None or report.status != JobStatus.SUCCEEDED:
            reason = report.error if report is not None and report.error else "it did not run"
            raise CommandError(f"report {report.pk if report else '?'} failed: {reason}")
        report = report_selectors.report_get(report_id=report.pk)
        self._print(report)
        if options["json"]:
            self._write_json(report, Path(options["json"]))

    def _dataset_name(self, dataset: str, where: list[str]) -> str:
        """An outside set is named by its absolute path, plus its row filters: '/abs/m.csv?split=validation'."""
        if dataset in DATASET_LABELS:
            if where:
                raise CommandError("--where filters the rows of a CSV manifest")
            return dataset
        path, filters = parse_set_name(dataset)
        for item in where:
            column, sep, value = item.partition("=")
            if not sep or not column:
                raise CommandError(f"--where takes COLUMN=VALUE, got {item!r}")
            filters[column] = value
        if not path.exists():
            return dataset  # the service names what is wrong
        return str(path.resolve()) + (f"?{urlencode(filters)}" if filters else "")

    def _checkpoint(self, options) -> Checkpoint:
        if options["checkpoint"] is not None:
            checkpoint = Checkpoint.objects.select_related("run").filter(pk=options["checkpoint"]).first()
            if checkpoint is None:
                raise CommandError(f"no checkpoint with id {options['checkpoint']}")
            return checkpoint
        if options["latest"]:
            run = report_selectors.run_latest_succeeded()
            if run is None:
                raise CommandError("no succeeded run with a checkpoint yet")
        else:
            run = TrainingRun.objects.filter(pk=options["run"]).first()
            if run is None:
                raise CommandError(f"no run with id {options['run']}")
        checkpoint = run_selectors.run_best_checkpoint(run=run)
        if checkpoint is None:
            raise CommandError(f"run {run.pk} has no checkpoint ({run.status})")
        return checkpoint

    def _user(self, username: str | None):
        return command_user(username, staff_to="evaluate checkpoints")

    def _print(self, report) -> None:
        """The figures as the report page shows them: the same stored numbers, the same formatting."""
        write = self.stdout.write
        write(f"report {report.pk}: run {report.run_id}, checkpoint epoch {report.checkpoint_epoch}, "
              f"{report.dataset_name} ({report.n_samples} images) on {report.device}, {report.seconds:.1f} s")
        write(f"accuracy {formatting.percent(report.accuracy)}   loss {formatting.decimal(report.loss)}   "
              f"ECE {formatting.decimal(report.ece)}")
        data = report_selectors.report_page_data(report=report)
        write(f"right: {data['overall']}")
        write("")
        width = max(len(name) for name in report.class_names)
        write(f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'F1':>9}  {'support':>7}  recognised (95 % interval)")
        for row in data["classes"]:
            # "—": a class the set has no images of has no score.
            write(f"{row.name:<{width}}  {formatting.percent(row.precision) or '—':>9}  "
                  f"{formatting.percent(row.recall) or '—':>9}  {formatting.percent(row.f1) or '—':>9}  {row.support:>7}  "
                  f"{row.recognised if row.support else ''}")
        if data["sources"]:
            write("")
            write("per source")
            for group in data["sources"]:
                write(f"  {group.name}: {group.share}")
        write("")
        write("confusion matrix (rows: true class, columns: predicted class)")
        cell = max(5, len(str(max(max(row) for row in report.confusion_matrix))) + 1)
        write(" " * (width + 4) + "".join(f"{i:>{cell}}" for i in range(len(report.class_names))))
        for i, (name, row) in enumerate(zip(report.class_names, report.confusion_matrix)):
            write(f"{i:>2} {name:<{width}} " + "".join(f"{count:>{cell}}" for count in row))
        write(self.style.SUCCESS(f"report {report.pk} saved"))

    def _write_json(self, report, path: Path) -> None:
        try:
            path.write_text(json.dumps(report_selectors.report_figures(report=report), indent=2) + "\n")
        except OSError as exc:
            raise CommandError(f"could not write {path}: {exc}") from None
        self.stdout.write(f"figures written to {path}")
