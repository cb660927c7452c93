"""The training engine: models, the training loop, evaluation and checkpoints, in plain PyTorch.

No Django and no Celery here: a task hands in a TrainConfig and the data, and gets its
progress through callbacks. Read top to bottom: models, data on tensors, the learning-rate
schedule, one epoch, evaluation and prediction, checkpoints, then ``train()`` which ties them
together. What the machine offers (device, precision, threads, layout) is in worker.hardware.

How it stays fast: the images stay one uint8 tensor on the device for the whole run; each
batch is cut from it by index, augmented with a few tensor ops for the whole batch and
normalised there, so the loop does no per-image Python work; convolutions run in
channels_last, under bf16 autocast where the hardware has it.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dataset.classes import CLASS_NAMES, NUM_CLASSES
from worker.config import PRESETS, Preset, TrainConfig
from worker.hardware import (  # noqa: F401 (re-exported: callers know them as engine.*)
    DeviceUnavailable,
    configure_threads,
    describe_hardware,
    pick_device,
    pick_precision,
    torch_version,
    uses_channels_last,
)

# 2: the architecture's layer list is stored with the weights (format 1 knew only "fast").
CHECKPOINT_FORMAT = 2


class TrainingCancelled(Exception):
    """Raised by a progress callback to stop training at the next batch."""


# --- models ---------------------------------------------------------------------------------


class SeedCNN(nn.Module):
    """The original notebook's model, layer for layer (see shared/reference/seed_cnn.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class ConvNet(nn.Module):
    """3x3 conv + batch norm + ReLU layers with 2x2 max pools between stages, then a head.

    `layers` reads like torchvision's VGG configs: a number is a conv layer of that width,
    "M" a max pool. Pooling early keeps the costly wide layers at 14 and 7 px (a third 2x2
    pool would drop the 7x7 map's last row and column). `head`: "max" pools the last map to
    one value per channel; "flatten" feeds the whole map to the linear layer, which keeps
    where things are (a sleeve's place tells a shirt from a bag); "flatten:N" adds a hidden
    layer of N units."""

    def __init__(self, layers: Sequence[int | str], head: str = "max") -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = 1
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(2))
            else:
                # No conv bias: the batch norm right after it has its own.
                modules += [nn.Conv2d(channels, int(item), 3, padding=1, bias=False),
                            nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*modules)
        kind, _, hidden = head.partition(":")
        self.flatten = kind == "flatten"
        side = 28 // 2 ** sum(item == "M" for item in layers)
        width = channels * side * side if self.flatten else channels
        if hidden:
            self.head = nn.Sequential(nn.Linear(width, int(hidden)), nn.ReLU(inplace=True),
                                      nn.Linear(int(hidden), NUM_CLASSES))
        else:
            self.head = nn.Linear(width, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(x.flatten(1) if self.flatten else torch.amax(x, dim=(2, 3)))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"seed": SeedCNN, "convnet": ConvNet}


def build_model(arch: str, layers: Sequence[int | str] = (), head: str = "max") -> nn.Module:
    """`layers` and `head` shape a "convnet" (see ConvNet); the notebook's "seed" model takes none."""
    return ConvNet(layers, head) if arch == "convnet" else ARCHITECTURES[arch]()


def build_preset_model(preset: Preset) -> nn.Module:
    """Fresh weights in the preset's architecture."""
    return build_model(preset.arch, preset.layers, preset.head)


def to_device(model: nn.Module, device: torch.device) -> nn.Module:
    layout = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    return model.to(device, memory_format=layout)


# --- data on tensors ------------------------------------------------------------------------


def normalize(images_uint8: torch.Tensor, preset: Preset, precision: str = "fp32") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), normalised as in training.

    With one channel, NCHW and channels_last are the same bytes, so there is nothing to
    convert; the first convolution writes channels_last from there on. fp32 in all cases:
    autocast casts at the first convolution when the run is bf16."""
    mean, std = preset.normalize
    return images_uint8.unsqueeze(1).float().div_(255).sub_(mean).div_(std)


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


def epoch_order(n_main: int, n_extra: int, extra_weight: float, generator: torch.Generator) -> torch.Tensor:
    """Indices for one epoch into the main images followed by the extra ones.

    Every main image once; extra images (photos for a fine-tune) drawn with replacement so
    that they make up `extra_weight` of the epoch, however few there are."""
    device = generator.device
    order = torch.randperm(n_main, generator=generator, device=device)
    if n_extra and extra_weight > 0:
        count = round(n_main * extra_weight / (1 - extra_weight))
        extra = n_main + torch.randint(0, n_extra, (count,), generator=generator, device=device)
        order = torch.cat([order, extra])[torch.randperm(n_main + count, generator=generator, device=device)]
    return order


def as_tensors(images: np.ndarray, labels: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and int64 labels on the device, moved there once for the whole run."""
    images = np.require(images, dtype=np.uint8, requirements=["C", "W"])  # from_numpy wants writable
    labels = np.require(labels, dtype=np.int64, requirements=["C", "W"])
    return torch.from_numpy(images).to(device), torch.from_numpy(labels).to(device)


# --- learning rate --------------------------------------------------------------------------


def lr_factor(step: int, total_steps: int, preset: Preset) -> float:
    """Multiplier on the peak learning rate at a 0-based step: 1 for "constant"; for
    "onecycle" a linear warm-up over the first `warmup_fraction` of the steps (BN nets at a
    high rate diverge without it), then a linear fall that reaches zero after the last step,
    which gets most of a short run's accuracy in its last epochs."""
    if preset.schedule == "constant":
        return 1.0
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


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based, the epoch in progress
    epochs: int
    batch: int  # batches done in this epoch
    batches: int

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) + self.batch / self.batches) / self.epochs


@dataclass(frozen=True)
class EpochResult:
    """Exactly the figures the notebook printed per epoch, plus the learning rate."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float


def autocast(device: torch.device, precision: str) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    *,
    config: TrainConfig,
    epoch: int,
    generator: torch.Generator,
    precision: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[float, float]:
    """One pass over `images[order]`; returns (mean loss, accuracy) as seen in training.

    Loss and hits add up on the device and are read once at the end, so a GPU never waits
    on the host mid-epoch."""
    preset = config.recipe
    model.train()
    batches = math.ceil(len(order) / config.batch_size)
    total_steps = batches * config.epochs
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    for batch_index, idx in enumerate(order.split(config.batch_size)):
        step = (epoch - 1) * batches + batch_index
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(step, total_steps, preset)
        batch = images[idx]
        if preset.augment:
            batch = augment(batch, generator, pad=preset.crop_pad)
        x, y = normalize(batch, preset), labels[idx]
        with autocast(images.device, precision):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=preset.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        if on_progress is not None:
            on_progress(Progress(epoch=epoch, epochs=config.epochs, batch=batch_index + 1, batches=batches))
    return loss_sum.item() / len(order), correct.item() / len(order)


# --- evaluation and prediction --------------------------------------------------------------


# On a CPU, a forward pass of ~128 images keeps its activations in cache: measured on the
# 2-core EPYC, 1.6-2.2x the images per second of passes of 1,000, and far less memory.
CPU_PASS = 128


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images_uint8: torch.Tensor,
    preset: Preset,
    *,
    batch_size: int = 1000,
    precision: str = "fp32",
) -> torch.Tensor:
    """Logits (N, 10) in fp32 for uint8 images (N, 28, 28) on the model's device, in eval
    mode, at most `batch_size` images per forward pass (fewer on a CPU, see CPU_PASS).

    With the preset's flip TTA, the logits of each image and its mirror are averaged; both
    go through the model as one batch, which costs a single image's latency little more."""
    model.eval()
    device = images_uint8.device
    step = batch_size if device.type != "cpu" else min(batch_size, CPU_PASS)
    outputs = []
    for start in range(0, len(images_uint8), step):
        x = normalize(images_uint8[start:start + step], preset)
        with autocast(device, precision):
            if preset.tta_flip:
                both = model(torch.cat([x, x.flip(3)])).float()
                logits = (both[:len(x)] + both[len(x):]) / 2
            else:
                logits = model(x).float()
        outputs.append(logits)
    if not outputs:
        return torch.zeros((0, NUM_CLASSES), device=device)
    return torch.cat(outputs)


def predict_proba(
    model: nn.Module,
    images_uint8: torch.Tensor,
    preset: Preset,
    *,
    batch_size: int = 1000,
    precision: str = "fp32",
) -> torch.Tensor:
    """Class probabilities (N, 10), fp32, each row summing to one; as predict_logits."""
    return predict_logits(model, images_uint8, preset, batch_size=batch_size, precision=precision).softmax(1)


def evaluate(
    model: nn.Module, images_uint8: torch.Tensor, labels: torch.Tensor, preset: Preset, *,
    precision: str = "fp32", batch_size: int = 1000,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on labelled images."""
    logits = predict_logits(model, images_uint8, preset, batch_size=batch_size, precision=precision)
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return loss, accuracy


# --- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(path: Path, payload: dict) -> str:
    """Write atomically (temp file in the same folder, fsync, rename); return the sha256.

    A reader never sees a half-written file, and a crash mid-write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_payload(model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
                       result: EpochResult, *, precision: str = "fp32") -> dict:
    """state_dicts plus plain metadata only, so the file loads with weights_only=True. The
    layer list travels with the weights, so retuning a preset never orphans old files."""
    preset = config.recipe
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": preset.arch,
        "layers": list(preset.layers),
        "head": preset.head,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": result.epoch,
        "metrics": asdict(result),
        "config": config.to_dict(),
        "class_names": list(CLASS_NAMES),
        "preprocessing": {"size": 28, "mean": preset.normalize[0], "std": preset.normalize[1],
                          "tta_flip": preset.tta_flip},
        "precision": precision,
        "torch_version": torch_version(),
    }


def load_checkpoint(path: Path | BinaryIO, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint file. Never unpickles code (weights_only=True)."""
    device = torch.device(device)
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("arch") not in ARCHITECTURES:
        raise ValueError(f"{path} is not a checkpoint this version can read")
    model = to_device(build_model(payload["arch"], payload["layers"], payload["head"]), device)
    model.load_state_dict(payload["model"])
    model.eval()
    return model, payload


def preset_of(payload: dict) -> Preset:
    return PRESETS[payload["config"]["preset"]]


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
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochResult, SavedCheckpoint], None] | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    extra_train: tuple[np.ndarray, np.ndarray, float] | None = None,
) -> TrainResult:
    """Train, validate and checkpoint after every epoch.

    init_state: a model state_dict to start from instead of fresh weights (a fine-tune); it
    must fit the preset's architecture. extra_train: (uint8 images (N, 28, 28), labels,
    weight): more images mixed into every epoch, drawn with replacement so that they make up
    `weight` (0 <= weight < 1) of its batches; augmented like the rest.

    Callbacks may raise TrainingCancelled (or anything else) to stop; the exception
    propagates to the caller after the current batch."""
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
    extra_count, extra_weight = 0, 0.0
    if extra_train is not None:
        extra_images, extra_labels, extra_weight = extra_train
        if not 0 <= extra_weight < 1:
            raise ValueError(f"extra_train weight must be in [0, 1), got {extra_weight}")
        extra_count = len(extra_labels)
        train_images = np.concatenate([train_images, np.asarray(extra_images, dtype=np.uint8)])
        train_labels = np.concatenate([train_labels, np.asarray(extra_labels, dtype=np.int64)])
    x_train, y_train = as_tensors(train_images, train_labels, device)
    x_val, y_val = as_tensors(val_images, val_labels, device)

    model = build_preset_model(config.recipe)
    if init_state is not None:
        model.load_state_dict(init_state)
    model = to_device(model, device)
    optimizer = make_optimizer(model, config)
    results = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = epoch_order(len(y_train) - extra_count, extra_count, extra_weight, generator)
        train_loss, train_acc = train_one_epoch(
            model, optimizer, x_train, y_train, order, config=config, epoch=epoch,
            generator=generator, precision=precision, on_progress=on_progress,
        )
        val_loss, val_acc = evaluate(model, x_val, y_val, config.recipe, precision=precision)
        result = EpochResult(
            epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, seconds=time.perf_counter() - started, lr=optimizer.param_groups[0]["lr"],
        )
        results.append(result)
        path = checkpoint_dir / f"epoch-{epoch:03d}.pt"
        payload = checkpoint_payload(model, optimizer, config, result, precision=precision)
        sha256 = save_checkpoint(path, payload)
        if on_epoch is not None:
            on_epoch(result, SavedCheckpoint(path=path, sha256=sha256, size=path.stat().st_size))
    return TrainResult(device=device.type, hardware=describe_hardware(device), precision=precision,
                       torch_version=torch_version(), epochs=results)
