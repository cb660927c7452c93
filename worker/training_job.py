"""Where a TrainingRun record meets the engine: data in, progress and epochs out to services."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from django.db import transaction

from classifier.models import Checkpoint, Photo, ReportOrigin, TrainingRun, model_input_array
from classifier.selectors.photos import PHOTOS_EVAL_SET, photos_held_out_labelled_exist
from classifier.selectors.runs import run_best_checkpoint
from classifier.services import evaluation as evaluation_services
from classifier.services import jobs as job_services
from classifier.services import photos as photo_services
from classifier.services import training as training_services
from dataset.eval_sets import FMNIST_TEST
from dataset.fashion_mnist import training_data
from engine.budget import Plan
from engine.checkpoints import load_verified_checkpoint
from engine.config import TrainConfig
from engine.hardware import describe_hardware, torch_version
from engine.results import EpochResult, Progress
from engine.training import ExtraImages, SavedCheckpoint, train
from worker.checkpoint_files import checkpoint_path, scratch_folder

logger = logging.getLogger(__name__)


def parent_start(run: TrainingRun, config: TrainConfig) -> tuple[dict | None, TrainConfig]:
    """A fine-tune's starting point: its parent checkpoint's weights (see start_from) and its
    config in the parent's architecture; a run from scratch: no weights, its config as it is."""
    if run.parent_checkpoint_id is None:
        return None, config
    return start_from(run.parent_checkpoint, config)


def start_from(parent: Checkpoint, config: TrainConfig) -> tuple[dict, TrainConfig]:
    """A checkpoint's weights, from a file whose sha256 still matches the one recorded when it
    was written (a swapped file is refused, never trained on), and `config` set to train the
    checkpoint's own architecture: a preset retuned since the parent was trained has other
    layers, and the team's models keep improving in theirs."""
    _model, payload = load_verified_checkpoint(checkpoint_path(parent), parent.sha256, "cpu")
    recipe = config.recipe
    if payload["arch"] != recipe.arch:
        raise job_services.JobRefused(
            f"The parent checkpoint is a {payload['arch']!r} model and the `{recipe.name}` preset now builds "
            f"{recipe.arch!r} ones; fine-tune a checkpoint trained with the current preset.")
    if (list(payload["layers"]), payload["head"]) != (list(recipe.layers), recipe.head):
        config = dataclasses.replace(config, layers=list(payload["layers"]), head=payload["head"])
        config.validate()
    return payload["model"], config


def snapshot_photos(run: TrainingRun, config: TrainConfig) -> ExtraImages | None:
    """The photos (28x28, as the model sees them) and labels frozen in the run's snapshot, with
    their sources, drawn as the config says. Only train-part photos can be in a snapshot; the
    filter on held_out makes sure of it again."""
    if not run.photo_snapshot:
        return None
    wanted = dict(run.photo_snapshot)
    rows = Photo.objects.filter(pk__in=wanted, held_out=False).values_list("pk", "model_input", "source")
    stored = {pk: data for pk, data, _ in rows}
    sources = {pk: source for pk, _, source in rows}
    missing = sorted(set(wanted) - set(stored))
    if missing:
        raise job_services.JobRefused(f"{len(missing)} photo(s) of this run's snapshot are gone or held out: "
                                      f"{', '.join(map(str, missing[:10]))}")
    ids = sorted(wanted)
    return ExtraImages(images=np.stack([model_input_array(stored[i]) for i in ids]),
                       labels=np.asarray([wanted[i] for i in ids], dtype=np.int64), weight=config.photo_weight,
                       groups=[sources[i] for i in ids], balance=config.photo_balance)


def train_and_record(run: TrainingRun) -> None:
    config = TrainConfig.from_dict(run.config)
    init_state, config = parent_start(run, config)
    data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
    photos = snapshot_photos(run, config) if config.with_photos else None
    heartbeat = job_services.Heartbeat(run)

    def on_start(device, precision: str) -> None:
        training_services.training_run_record_environment(
            run_id=run.pk, device=describe_hardware(device), precision=precision,
            torch_version=torch_version(), dataset_fingerprint=data.fingerprint,
        )

    def on_progress(progress: Progress) -> None:
        heartbeat(progress.fraction)

    planned = {}

    def on_plan(plan: Plan) -> None:
        planned["epochs"] = plan.epochs
        training_services.training_run_record_plan(run_id=run.pk, plan=plan.to_dict())

    def on_epoch(result: EpochResult, saved: SavedCheckpoint) -> None:
        training_services.training_run_record_epoch(
            run_id=run.pk, figures=result, checkpoint_file=saved.path, sha256=saved.sha256, size=saved.size,
            epochs_total=planned["epochs"],
        )
        saved.path.unlink()  # stored now (on disk or in the bucket): scratch holds one epoch at most

    # Written on this worker's own disk first, then stored: the worker needs no shared folder.
    with scratch_folder(f"run-{run.pk}-") as scratch:
        train(
            config,
            train_images=data.train_images, train_labels=data.train_labels,
            val_images=data.val_images, val_labels=data.val_labels,
            checkpoint_dir=scratch,
            on_start=on_start, on_plan=on_plan, on_progress=on_progress, on_epoch=on_epoch,
            init_state=init_state,
            extra_train=photos,
        )


def after_success(run: TrainingRun) -> None:
    """Queue what a new model is measured by: its best checkpoint's reports on the test set and
    on the held-out photos (its two-domain scorecard), and its second opinion on the photos.
    The run stays succeeded if any of this fails: each can be asked for again from the pages."""
    checkpoint = run_best_checkpoint(run=run)
    if checkpoint is None:
        return
    datasets = [FMNIST_TEST] + ([PHOTOS_EVAL_SET] if photos_held_out_labelled_exist() else [])
    for dataset_name in datasets:
        try:
            with transaction.atomic():  # a savepoint each: one that fails leaves the others
                evaluation_services.evaluation_report_create(
                    checkpoint=checkpoint, dataset_name=dataset_name, requested_by=None, origin=ReportOrigin.TRAINING)
        except Exception:  # noqa: BLE001
            logger.exception("run %s: could not queue its %s evaluation", run.pk, dataset_name)
    try:
        with transaction.atomic():
            photo_services.photos_predict_candidate(checkpoint=checkpoint)
    except Exception:  # noqa: BLE001
        logger.exception("run %s: could not queue its second opinion on the photos", run.pk)
