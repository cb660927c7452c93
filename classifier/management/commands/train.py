"""`manage.py train`: queue a run through the same service the admin uses; --wait follows it."""

import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier.management.users import command_user
from classifier.models import Checkpoint, JobStatus
from classifier.selectors import runs as run_selectors
from classifier.services import training as training_services
from classifier.services.jobs import QUEUE_UNREACHABLE, job_send_failed
from engine.config import (
    BALANCES,
    DEFAULT_PHOTO_BALANCE,
    DEFAULT_PRESET,
    DEVICES,
    FINETUNE_PHOTO_WEIGHT,
    OPTIMIZERS,
    PRESETS,
    ConfigError,
    TrainConfig,
    parse_budget,
)


class Command(BaseCommand):
    help = "Queue a training run on the Celery worker; with --wait, follow it to the end."

    def add_arguments(self, parser):
        parser.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET)
        parser.add_argument("--epochs", type=int, help="a fixed number of epochs")
        parser.add_argument("--budget", metavar="MINUTES|notebook",
                            help="train for this many minutes, or for the notebook's training time on the worker "
                                 "(measured there); the default for the fast preset")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--optimizer", choices=OPTIMIZERS)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--limit", type=int, help="train on this many images only")
        parser.add_argument("--device", choices=DEVICES, default="auto")
        parser.add_argument("--finetune-from", type=int, metavar="CHECKPOINT_ID",
                            help="fine-tune this checkpoint instead of training from scratch (its preset; "
                                 "fewer epochs and a lower learning rate unless given)")
        parser.add_argument("--with-photos", action="store_true",
                            help="with --finetune-from: also train on the train part of the labelled photos")
        parser.add_argument("--photo-balance", choices=BALANCES,
                            help=f"how the photo draws are spread over classes and sources ({DEFAULT_PHOTO_BALANCE})")
        parser.add_argument("--photo-weight", type=float, help=f"share of each batch drawn from the photos ({FINETUNE_PHOTO_WEIGHT:g})")
        parser.add_argument("--note", default="")
        parser.add_argument("--user", help="record the run as started by this username")
        parser.add_argument("--wait", action="store_true", help="show progress until the run ends")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between progress reads")

    def handle(self, *args, **options):
        user = self._user(options["user"])
        if options["finetune_from"] is not None:
            run = self._finetune(options, user)
        else:
            run = self._from_scratch(options, user)
        self.stdout.write(f"run {run.pk} queued ({run.preset}, {run.length_in_words}"
                          + (f", fine-tune of checkpoint {run.parent_checkpoint_id}" if run.parent_checkpoint_id else "")
                          + (f", {len(run.photo_snapshot)} photos" if run.photo_snapshot else "") + ")")
        if job_send_failed(run):
            self.stderr.write(QUEUE_UNREACHABLE)
        if not options["wait"]:
            return
        self._wait(run.pk, options["poll"])

    def _user(self, username):
        return command_user(username)

    def _finetune(self, options, user):
        if options["with_photos"] is False and (options["photo_weight"] is not None or options["photo_balance"]):
            raise CommandError("--photo-weight and --photo-balance need --with-photos")
        parent = Checkpoint.objects.select_related("run").filter(pk=options["finetune_from"]).first()
        if parent is None:
            raise CommandError(f"no checkpoint {options['finetune_from']}")
        try:
            return training_services.training_run_create_finetune(
                created_by=user, parent=parent, with_photos=options["with_photos"], note=options["note"],
                epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"],
                optimizer=options["optimizer"], seed=options["seed"], limit=options["limit"],
                device=options["device"], photo_weight=options["photo_weight"],
                photo_balance=options["photo_balance"], **parse_budget(options["budget"] or ""),
            )
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from None

    def _from_scratch(self, options, user):
        if options["with_photos"]:
            raise CommandError("--with-photos needs --finetune-from CHECKPOINT_ID")
        try:
            config = TrainConfig.for_preset(
                options["preset"], epochs=options["epochs"], batch_size=options["batch_size"],
                lr=options["lr"], optimizer=options["optimizer"], seed=options["seed"],
                limit=options["limit"], device=options["device"], **parse_budget(options["budget"] or ""),
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        return training_services.training_run_create(created_by=user, config=config, note=options["note"])

    def _wait(self, run_id: int, poll_s: float) -> None:
        run = self._follow(run_id, poll_s)
        last = run_selectors.run_epochs(run=run)[-1:] or [None]
        if last[0] is not None:
            e = last[0]
            self.stdout.write(
                f"run {run.pk} {run.status}: epoch {e.epoch} train_loss {e.train_loss:.4f} "
                f"val_loss {e.val_loss:.4f} train_acc {e.train_acc:.4f} val_acc {e.val_acc:.4f}"
            )
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} {run.status}" + (f": {run.error.splitlines()[0]}" if run.error else ""))
        self.stdout.write(self.style.SUCCESS(f"run {run.pk} succeeded"))

    def _follow(self, run_id: int, poll_s: float):
        """A progress bar fed from the database, which is where the worker reports."""
        run = run_selectors.run_get(run_id=run_id)
        # In percent: a run with a time budget learns its number of epochs on the worker.
        with tqdm(total=100, desc=f"run {run_id}", unit="%",
                  bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}] {postfix}",
                  file=self.stderr._out) as bar:
            while True:
                run = run_selectors.run_get(run_id=run_id)
                bar.n = round(run.progress * 100, 1)
                bar.set_postfix_str(f"{run.status}, {run.epochs_done} of {run.epochs_total or '?'} epochs")
                if run.is_finished:
                    return run
                time.sleep(poll_s)
