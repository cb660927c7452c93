"""How long a run will take on the worker, before it is started: from the speed that worker
measured in the runs it trained (each epoch's training seconds, EpochLog.train_seconds, and the
steps its plan fixed, TrainingRun.plan), not from a guess.

Speed depends on the model and the machine, so it is read per preset, on the worker that
trained that preset most recently. Images per second carry over across batch sizes and train
subsets better than seconds per step do, so that is what is kept; validation is kept as seconds
per validation image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Prefetch

from classifier.models import EpochLog, TrainingRun
from dataset.fashion_mnist import TRAIN_SIZE
from engine.config import TrainConfig

# Runs of a preset, most recent first, that a speed is averaged over: enough to smooth one
# run's noise, few enough to follow a worker that changed.
SPEED_RUNS = 5


@dataclass(frozen=True)
class Speed:
    """What one worker measured for one preset."""

    preset: str
    worker_host: str
    device: str
    precision: str
    images_per_s: float  # training steps only
    val_s_per_image: float  # the validation after each epoch
    runs: list[int]  # the runs it is measured from, newest first
    notebook_s: float | None  # the notebook's training time measured there, if a run measured it


@dataclass(frozen=True)
class Estimate:
    """A run's expected length, with where the figures come from."""

    seconds: float | None  # None: nothing measured to go on
    train_s: float | None
    val_s: float | None
    epochs: int | None
    images_per_epoch: int
    speed: Speed | None
    basis: str  # in words, for the page

    @property
    def known(self) -> bool:
        return self.seconds is not None


def _images_per_epoch(config: TrainConfig, n_photos: int) -> int:
    """Every training image once, plus, in a fine-tune with photos, photos drawn to make up
    photo_weight of the epoch (engine.training.epoch_order)."""
    n_main = TRAIN_SIZE - config.val_size
    if config.limit is not None:
        n_main = min(n_main, config.limit)
    if config.with_photos and n_photos:
        n_main += round(n_main * config.photo_weight / (1 - config.photo_weight))
    return n_main


def worker_speed(*, preset: str) -> Speed | None:
    """The speed of the worker that most recently trained ``preset`` (at least one epoch with
    its training time), averaged over its SPEED_RUNS latest such runs of that preset."""
    runs = list(
        TrainingRun.objects.filter(preset=preset, epochs__train_seconds__gt=0, plan__isnull=False)
        .exclude(worker_host="").distinct().order_by("-created_at", "-pk")
        .prefetch_related(Prefetch("epochs", queryset=EpochLog.objects.filter(train_seconds__gt=0)))[:SPEED_RUNS * 4]
    )
    if not runs:
        return None
    host = runs[0].worker_host
    runs = [run for run in runs if run.worker_host == host][:SPEED_RUNS]
    images = train_s = val_s = val_images = 0.0
    for run in runs:
        plan, batch_size = run.plan, run.config["batch_size"]
        epochs = list(run.epochs.all())
        for epoch in epochs:
            first_step = (epoch.epoch - 1) * plan["batches_per_epoch"]
            steps = max(0, min(plan["batches_per_epoch"], plan["total_steps"] - first_step))
            images += steps * batch_size
            train_s += epoch.train_seconds
            val_s += max(0.0, epoch.seconds - epoch.train_seconds)
            val_images += run.config["val_size"]
    if images <= 0 or train_s <= 0:
        return None
    notebook_s = next((run.plan["notebook_s"] for run in runs if run.plan.get("notebook_s")), None)
    if notebook_s is None:
        notebook_s = (TrainingRun.objects.filter(worker_host=host, plan__notebook_s__isnull=False)
                      .order_by("-created_at", "-pk").values_list("plan__notebook_s", flat=True).first())
    return Speed(preset=preset, worker_host=host, device=runs[0].device, precision=runs[0].precision,
                 images_per_s=images / train_s, val_s_per_image=val_s / val_images if val_images else 0.0,
                 runs=[run.pk for run in runs], notebook_s=notebook_s)


def run_duration_estimate(*, config: TrainConfig, n_photos: int = 0, speed: Speed | None | bool = False) -> Estimate:
    """How long ``config`` should take on the worker that last trained its preset: training
    steps at its measured images per second (or the budget, which is the training time by
    definition), plus validation after each epoch. ``n_photos``: labelled train-part photos a
    fine-tune with photos mixes in. ``speed``: pass one to skip looking it up."""
    if speed is False:
        speed = worker_speed(preset=config.preset)
    per_epoch = _images_per_epoch(config, n_photos)
    batches = math.ceil(per_epoch / config.batch_size)
    if speed is None:
        return Estimate(seconds=config.budget_s, train_s=config.budget_s, val_s=None, epochs=config.epochs,
                        images_per_epoch=per_epoch, speed=None,
                        basis=f"no {config.preset!r} run has finished an epoch on a worker yet, so there is no "
                              "measured speed to go on" + ("; the budget counts training only" if config.budget_s
                                                           else ""))
    step_s = config.batch_size / speed.images_per_s
    where = (f"measured on {speed.worker_host} ({speed.device or 'device unknown'}{', ' + speed.precision if speed.precision else ''}) "
             f"in {len(speed.runs)} {config.preset!r} run{'s' if len(speed.runs) != 1 else ''} "
             f"({', '.join(f'#{pk}' for pk in speed.runs)}): {speed.images_per_s:,.0f} training images/s")
    if config.has_budget:
        train_s = config.budget_s if config.budget_s is not None else speed.notebook_s
        if train_s is None:
            return Estimate(seconds=None, train_s=None, val_s=None, epochs=None, images_per_epoch=per_epoch,
                            speed=speed, basis="the notebook's time is measured when the run starts; no run on "
                                               f"{speed.worker_host} has measured it yet")
        epochs = max(1, math.ceil(math.floor(train_s / step_s) / batches))
    else:
        epochs = config.epochs
        train_s = epochs * batches * step_s
    val_s = epochs * config.val_size * speed.val_s_per_image
    return Estimate(seconds=train_s + val_s, train_s=train_s, val_s=val_s, epochs=epochs, images_per_epoch=per_epoch,
                    speed=speed, basis=where)
