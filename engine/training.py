"""The training loop in plain PyTorch: data on tensors, the learning-rate schedule, one epoch,
and ``train()``, which ties them together with validation and a checkpoint per epoch.

No Django and no Celery here: a task hands in a TrainConfig and the data, and gets its
progress through callbacks. What the machine offers (device, precision, threads, layout) is
in engine.hardware; the models in engine.model.

How it stays fast: the images stay one uint8 tensor on the device for the whole run; each
batch is cut from it by index, augmented with a few tensor ops for the whole batch and
normalised there, so the loop does no per-image Python work; convolutions run in
channels_last, under bf16 autocast where the hardware has it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dataset.classes import NUM_CLASSES
from engine.budget import (
    NOTEBOOK_PROBE_STEPS,
    NOTEBOOK_STEPS,
    Plan,
    fixed_plan,
    notebook_step,
    paired_seconds_per_step,
    plan_for_budget,
    probe_copy,
    replan,
    seconds_per_step,
    synchronizer,
)
from engine.checkpoints import checkpoint_payload, save_checkpoint
from engine.config import BALANCES, SOURCE_SHARE_CAP, TOP_UP_PHOTOS, Preset, TrainConfig
from engine.hardware import configure_threads, describe_hardware, pick_device, pick_precision, torch_version
from engine.inference import autocast, evaluate, normalize
from engine.model import build_preset_model, to_device, whiten_first_conv
from engine.results import EpochResult, Progress

# The patches of this many training images (the first ones) make a whitening start: plenty
# for 45 numbers (a 9x9 covariance), and under a second.
WHITENING_IMAGES = 10_000

# --- data on tensors ------------------------------------------------------------------------


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random crop with `pad` px zero padding and random horizontal flip, for a whole uint8
    batch (N, H, W), on the batch's device.

    One gather with per-image row and column offsets does both, so a batch costs a few
    tensor ops whatever its size. `generator` lives on the images' device."""
    n, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n, 1, 1), generator=generator, device=images.device)
    flip = torch.rand((n, 1, 1), generator=generator, device=images.device) < 0.5
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    cols = torch.where(flip, w - 1 - cols, cols) + dx  # flipping within the crop window
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, rows, cols]


@dataclass(frozen=True)
class ExtraImages:
    """Images mixed into every epoch of a fine-tune (the team's labelled photos).

    weight: their share of each epoch (0 <= weight < 1), however few they are. balance: how
    those draws are spread (see BALANCES in engine.config): "none" draws every photo alike, so
    the classes and sources labelled most take most of them; "class" gives every class the same
    share, and a class without photos gets its share from its Fashion-MNIST images; the
    "class+..." balances also spread a class's share over the sources (shops, homes, upload
    batches) it has: evenly ("class+source"), by the square root of each source's photos of the
    class ("class+sqrt-source"), or by their number up to SOURCE_SHARE_CAP
    ("class+capped-source"); "class+top-up" is "class" with a class's share split between its
    photos and its Fashion-MNIST images by how many photos it has (photo_share()). groups: each
    photo's source, for those."""

    images: np.ndarray
    labels: np.ndarray
    weight: float
    groups: Sequence[str] | None = None
    balance: str = "none"

    def __post_init__(self) -> None:
        if not 0 <= self.weight < 1:
            raise ValueError(f"the extra images' weight must be in [0, 1), got {self.weight}")
        if self.balance not in BALANCES:
            raise ValueError(f"balance must be one of {', '.join(BALANCES)}, got {self.balance!r}")
        if self.groups is not None and len(self.groups) != len(self.labels):
            raise ValueError("one group per extra image")


def source_share(photos: int, balance: str) -> float:
    """How much of its class's draws a source with this many photos of the class gets, before
    the class's shares are made to sum to one."""
    if balance == "class":
        return float(photos)  # every photo of the class alike
    if balance == "class+sqrt-source":
        return math.sqrt(photos)
    if balance == "class+capped-source":
        return float(min(photos, SOURCE_SHARE_CAP))
    return 1.0  # "class+source": every source alike


def photo_share(photos: int, balance: str) -> float:
    """How much of its class's draws a class with this many photos takes from them; the rest
    comes from its Fashion-MNIST images. "class+top-up" trusts a class's photos as they grow
    (photos / (photos + TOP_UP_PHOTOS)), so one photo of a pullover is not drawn as often as a
    thousand T-shirts together; the other balances give the photos the whole share."""
    if photos == 0:
        return 0.0
    if balance == "class+top-up":
        return photos / (photos + TOP_UP_PHOTOS)
    return 1.0


def draw_weights(main_labels: np.ndarray, extra: ExtraImages) -> np.ndarray | None:
    """How likely each image (main ones first, then the extra ones) is to fill one of an epoch's
    extra slots; None for "none", whose draws are uniform over the extra images.

    Every class gets a tenth of the slots. Within a class they go to its photos (over its
    sources as source_share() says, and evenly over a source's photos) and, for the part
    photo_share() leaves, to its main images: all of them when it has no photo, so that a class
    the team never photographed keeps its share instead of being crowded out by those it did."""
    if extra.balance == "none":
        return None
    n_main = len(main_labels)
    weights = np.zeros(n_main + len(extra.labels))
    groups = np.asarray(extra.groups if extra.groups is not None else [""] * len(extra.labels), dtype=object)
    for label in range(NUM_CLASSES):
        photos = np.flatnonzero(extra.labels == label)
        photo_part = photo_share(len(photos), extra.balance)
        stand_ins = np.flatnonzero(main_labels == label)
        if len(stand_ins):
            weights[stand_ins] = (1 - photo_part) / len(stand_ins)
        if photo_part == 0:
            continue
        members = {source: photos[groups[photos] == source] for source in sorted(set(groups[photos]))}
        shares = {source: source_share(len(m), extra.balance) for source, m in members.items()}
        total = sum(shares.values())
        for source, m in members.items():
            weights[n_main + m] = photo_part * shares[source] / (total * len(m))
    return weights / weights.sum()


def epoch_order(n_main: int, n_extra: int, extra_weight: float, generator: torch.Generator,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """Indices for one epoch into the main images followed by the extra ones.

    Every main image once; then as many draws, with replacement, as make the extra slots
    `extra_weight` of the epoch, however few extra images there are: uniform over the extra
    images, or by `weights` (draw_weights(), over main and extra images) when given."""
    device = generator.device
    order = torch.randperm(n_main, generator=generator, device=device)
    if n_extra and extra_weight > 0:
        count = round(n_main * extra_weight / (1 - extra_weight))
        if weights is None:
            extra = n_main + torch.randint(0, n_extra, (count,), generator=generator, device=device)
        else:
            extra = torch.multinomial(weights, count, replacement=True, generator=generator)
        order = torch.cat([order, extra])[torch.randperm(n_main + count, generator=generator, device=device)]
    return order


def as_tensors(images: np.ndarray, labels: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and int64 labels on the device, moved there once for the whole run."""
    images = np.require(images, dtype=np.uint8, requirements=["C", "W"])  # from_numpy wants writable
    labels = np.require(labels, dtype=np.int64, requirements=["C", "W"])
    return torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)


# --- learning rate --------------------------------------------------------------------------


def lr_factor(step: int, total_steps: int, preset: Preset, *, resumed: tuple[int, float] | None = None) -> float:
    """Multiplier on the peak learning rate at a 0-based step: 1 for "constant"; for
    "onecycle" a linear warm-up over the first `warmup_fraction` of the steps (BN nets at a
    high rate diverge without it), then a linear fall that reaches zero after the last step,
    which gets most of a short run's accuracy in its last epochs.

    resumed: (step, factor) where a budgeted run re-planned its length; from there the rate
    falls linearly from that factor to zero after the (new) last step, without a jump."""
    if preset.schedule == "constant":
        return 1.0
    if resumed is not None and step >= resumed[0]:
        start, factor = resumed
        return max(0.0, factor * (total_steps - step) / max(1, total_steps - start))
    warmup = max(1, round(total_steps * preset.warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    weight_decay = config.recipe.weight_decay
    # One kernel for all parameters on a GPU, where launching one per tensor would dominate.
    fused = next(model.parameters()).is_cuda
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=weight_decay, fused=fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=weight_decay, fused=fused)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                           weight_decay=weight_decay)


# --- one epoch ------------------------------------------------------------------------------


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch_uint8: torch.Tensor, labels: torch.Tensor,
               *, config: TrainConfig, generator: torch.Generator, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a uint8 batch: augment, normalise, forward, backward. Returns the
    loss and the logits, on the device (reading them would make a GPU wait)."""
    preset = config.recipe
    if preset.augment:
        batch_uint8 = augment(batch_uint8, generator, pad=preset.crop_pad)
    x = normalize(batch_uint8, preset.inference)
    with autocast(batch_uint8.device, precision):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=preset.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    *,
    config: TrainConfig,
    plan: Plan,
    epoch: int,
    generator: torch.Generator,
    precision: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[float, float]:
    """One pass over `images[order]`, or the part of it left before the plan's last step;
    returns (mean loss, accuracy) as seen in training.

    Loss and hits add up on the device and are read once at the end, so a GPU never waits
    on the host mid-epoch."""
    model.train()
    first_step = (epoch - 1) * plan.batches_per_epoch
    batches = min(plan.batches_per_epoch, plan.total_steps - first_step)
    order = order[:batches * config.batch_size]
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    resumed = (plan.replanned_at, plan.replanned_factor) if plan.replanned_at is not None else None
    for batch_index, idx in enumerate(order.split(config.batch_size)):
        step = first_step + batch_index
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(step, plan.total_steps, config.recipe, resumed=resumed)
        y = labels[idx]
        loss, logits = train_step(model, optimizer, images[idx], y, config=config, generator=generator,
                                  precision=precision)
        loss_sum += loss * len(idx)
        correct += (logits.argmax(1) == y).sum()
        if on_progress is not None:
            on_progress(Progress(epoch=epoch, epochs=plan.epochs, batch=batch_index + 1, batches=batches,
                                 step=step + 1, steps=plan.total_steps))
    return loss_sum.item() / len(order), correct.item() / len(order)


def make_plan(config: TrainConfig, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
              n_per_epoch: int, *, precision: str) -> Plan:
    """A fixed number of epochs, or as many steps as the budget holds at the speed measured here,
    on a throwaway copy of the model with its own random numbers (the run's stay as they were)."""
    batches_per_epoch = math.ceil(n_per_epoch / config.batch_size)
    if not config.has_budget:
        return fixed_plan(config, batches_per_epoch)
    started = time.perf_counter()
    twin, twin_optimizer = probe_copy(model, lambda m: make_optimizer(m, config))
    twin.train()
    probe_generator = torch.Generator(device=images.device).manual_seed(config.seed + 1)

    def step() -> None:
        idx = torch.randint(0, len(labels), (config.batch_size,), generator=probe_generator, device=images.device)
        train_step(twin, twin_optimizer, images[idx], labels[idx], config=config, generator=probe_generator,
                   precision=precision)

    sync = synchronizer(images.device)
    if config.budget_notebook:
        # The notebook's steps and this run's, in turn: the budget then holds the two loops'
        # speeds at the same moment, however the worker's speed drifts.
        notebook_step_s, step_s = paired_seconds_per_step(
            [notebook_step(images, labels), step], steps=NOTEBOOK_PROBE_STEPS, synchronize=sync)
        notebook_s = notebook_step_s * NOTEBOOK_STEPS
    else:
        step_s, notebook_s = seconds_per_step(step, synchronize=sync), None
    return plan_for_budget(budget_s=notebook_s if notebook_s is not None else config.budget_s, step_s=step_s,
                           batches_per_epoch=batches_per_epoch, spent_s=time.perf_counter() - started,
                           notebook_s=notebook_s)


# --- a whole run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedCheckpoint:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class TrainResult:
    device: str
    hardware: str
    precision: str
    torch_version: str
    plan: Plan
    epochs: list[EpochResult]


def train(
    config: TrainConfig,
    *,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    checkpoint_dir: Path,
    on_start: Callable[[torch.device, str], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochResult, SavedCheckpoint], None] | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    extra_train: ExtraImages | None = None,
) -> TrainResult:
    """Train, validate and checkpoint after every epoch.

    init_state: a model state_dict to start from instead of fresh weights (a fine-tune); it
    must fit the preset's architecture. extra_train: more images (uint8, N x 28 x 28) mixed
    into every epoch, drawn as ExtraImages says; augmented like the rest.

    With a time budget (config.budget_s or budget_notebook) the number of steps is fixed
    after a speed probe (engine.budget), told to on_plan before the first step; BudgetTooSmall
    if not one epoch fits.

    A callback may raise to stop (a job's heartbeat does when the job was cancelled); the
    exception propagates to the caller after the current batch."""
    device = pick_device(config.device)
    precision = pick_precision(device)
    configure_threads(device)
    if on_start is not None:
        on_start(device, precision)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    torch.manual_seed(config.seed)
    # On the run's device, so shuffling and augmentation never copy from the host mid-epoch.
    generator = torch.Generator(device=device).manual_seed(config.seed)

    # The data moves to the device once, as uint8; batches are cut and normalised there.
    # The extra images sit after the main ones, where epoch_order() looks for them.
    extra_count, extra_weight, weights = 0, 0.0, None
    if extra_train is not None:
        weights = draw_weights(train_labels, extra_train)
        extra_count, extra_weight = len(extra_train.labels), extra_train.weight
        train_images = np.concatenate([train_images, np.asarray(extra_train.images, dtype=np.uint8)])
        train_labels = np.concatenate([train_labels, np.asarray(extra_train.labels, dtype=np.int64)])
    x_train, y_train = as_tensors(train_images, train_labels, device)
    x_val, y_val = as_tensors(val_images, val_labels, device)
    if weights is not None:
        weights = torch.from_numpy(weights).to(device)

    model = build_preset_model(config.recipe)
    if init_state is not None:
        model.load_state_dict(init_state)
    elif config.recipe.whiten:
        whiten_first_conv(model, normalize(x_train[:WHITENING_IMAGES].cpu(), config.recipe.inference))
    model = to_device(model, device)
    optimizer = make_optimizer(model, config)
    n_main = len(y_train) - extra_count
    n_per_epoch = len(epoch_order(n_main, extra_count, extra_weight, torch.Generator(device=device), weights))
    plan = make_plan(config, model, x_train, y_train, n_per_epoch, precision=precision)
    if on_plan is not None:
        on_plan(plan)
    results = []
    epoch, train_s = 0, 0.0
    while epoch < plan.epochs:  # a budgeted run may re-plan its length after any epoch
        epoch += 1
        started = time.perf_counter()
        order = epoch_order(n_main, extra_count, extra_weight, generator, weights)
        train_loss, train_acc = train_one_epoch(
            model, optimizer, x_train, y_train, order, config=config, plan=plan, epoch=epoch,
            generator=generator, precision=precision, on_progress=on_progress,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds = time.perf_counter() - started
        train_s += train_seconds
        steps_done = min(epoch * plan.batches_per_epoch, plan.total_steps)
        replanned = replan(plan, steps_done=steps_done, train_s=train_s,
                           step_s=train_seconds / (steps_done - (epoch - 1) * plan.batches_per_epoch),
                           factor=optimizer.param_groups[0]["lr"] / config.lr)
        if replanned is not None:
            plan = replanned
            if on_plan is not None:
                on_plan(plan)
        val_loss, val_acc = evaluate(model, x_val, y_val, config.recipe.inference, precision=precision)
        result = EpochResult(
            epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, seconds=time.perf_counter() - started, lr=optimizer.param_groups[0]["lr"],
            train_seconds=train_seconds,
        )
        results.append(result)
        path = checkpoint_dir / f"epoch-{epoch:03d}.pt"
        payload = checkpoint_payload(model, optimizer, config, result, precision=precision)
        sha256 = save_checkpoint(path, payload)
        if on_epoch is not None:
            on_epoch(result, SavedCheckpoint(path=path, sha256=sha256, size=path.stat().st_size))
    return TrainResult(device=device.type, hardware=describe_hardware(device), precision=precision,
                       torch_version=torch_version(), plan=plan, epochs=results)
