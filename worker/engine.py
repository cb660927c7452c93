"""The training engine: models, the training loop, evaluation and checkpoints, in plain PyTorch.

No Django and no Celery here: a task hands in a TrainConfig and the data, and gets its
progress through callbacks. Read top to bottom: hardware, models, data on tensors, one
epoch, evaluation, checkpoints, then ``train()`` which ties them together.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dataset.classes import CLASS_NAMES, NUM_CLASSES
from worker.config import PRESETS, Preset, TrainConfig

CHECKPOINT_FORMAT = 1


class TrainingCancelled(Exception):
    """Raised by a progress callback to stop training at the next batch."""


class DeviceUnavailable(RuntimeError):
    pass


# --- hardware -------------------------------------------------------------------------------


def pick_device(requested: str = "auto") -> torch.device:
    """Chosen once per run and passed down; 'cuda' on a machine without it is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' was asked for, but this worker has no CUDA GPU")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 matrix units (AMX, AVX512-BF16); elsewhere it
    is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" amx_bf16", " avx512_bf16"))


def pick_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def torch_version() -> str:
    return str(torch.__version__)


def describe_hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


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


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class FastCNN(nn.Module):
    """Batch-norm CNN sized for a 2-core CPU: downsample early, widen as the map shrinks."""

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            conv_bn(1, w1), nn.MaxPool2d(2),  # 28 -> 14
            conv_bn(w1, w2), conv_bn(w2, w2), nn.MaxPool2d(2),  # 14 -> 7
            conv_bn(w2, w3), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.head = nn.Linear(w3, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(torch.amax(x, dim=(2, 3)))


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {"seed": SeedCNN, "fast": FastCNN}


def build_model(arch: str) -> nn.Module:
    return ARCHITECTURES[arch]()


# --- data on tensors ------------------------------------------------------------------------


def normalize(images_uint8: torch.Tensor, preset: Preset, precision: str = "fp32") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), channels_last, normalised as in training."""
    mean, std = preset.normalize
    x = images_uint8.unsqueeze(1).float().div_(255).sub_(mean).div_(std)
    return x.contiguous(memory_format=torch.channels_last)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop with 2 px padding and random horizontal flip, for a whole uint8 batch.

    Done with index arithmetic on the batch rather than per image, so it costs a few
    tensor ops per batch."""
    n, h, w = images.shape
    pad = 2
    padded = F.pad(images, (pad, pad, pad, pad))
    dy, dx = (torch.randint(0, 2 * pad + 1, (2, n, 1, 1), generator=generator)).to(images.device)
    flip = (torch.rand((n, 1, 1), generator=generator) < 0.5).to(images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1) + dy
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    cols = torch.where(flip, w - 1 - cols, cols) + dx
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, rows, cols]


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


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    weight_decay = config.recipe.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                           weight_decay=weight_decay)


def lr_factor(step: int, total_steps: int, preset: Preset) -> float:
    """Multiplier on the peak learning rate at a given step."""
    if preset.schedule == "constant":
        return 1.0
    warmup = max(1, int(total_steps * preset.warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: TrainConfig,
    epoch: int,
    generator: torch.Generator,
    precision: str,
    on_progress: Callable[[Progress], None] | None,
) -> tuple[float, float]:
    """One pass over the training images; returns (mean loss, accuracy) as seen in training."""
    preset = config.recipe
    model.train()
    n = len(labels)
    order = torch.randperm(n, generator=generator).to(images.device)
    batches = math.ceil(n / config.batch_size)
    total_steps = batches * config.epochs
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    autocast = torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    for batch_index, idx in enumerate(order.split(config.batch_size)):
        step = (epoch - 1) * batches + batch_index
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_factor(step, total_steps, preset)
        batch = images[idx]
        if preset.augment:
            batch = augment(batch, generator)
        x, y = normalize(batch, preset), labels[idx]
        with autocast:
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=preset.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        if on_progress is not None:
            on_progress(Progress(epoch=epoch, epochs=config.epochs, batch=batch_index + 1, batches=batches))
    return loss_sum.item() / n, correct.item() / n


# --- evaluation -----------------------------------------------------------------------------


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images_uint8: torch.Tensor,
    preset: Preset,
    *,
    batch_size: int = 1000,
    precision: str = "fp32",
) -> torch.Tensor:
    """Logits (N, 10) in fp32 for uint8 images, in eval mode, with flip TTA if the preset says."""
    model.eval()
    autocast = torch.autocast(images_uint8.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    outputs = []
    for start in range(0, len(images_uint8), batch_size):
        x = normalize(images_uint8[start:start + batch_size], preset)
        with autocast:
            logits = model(x).float()
            if preset.tta_flip:
                logits = (logits + model(x.flip(3)).float()) / 2
        outputs.append(logits)
    if not outputs:
        return torch.zeros((0, NUM_CLASSES))
    return torch.cat(outputs)


def evaluate(
    model: nn.Module, images_uint8: torch.Tensor, labels: torch.Tensor, preset: Preset, *, precision: str = "fp32"
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on labelled images."""
    logits = predict_logits(model, images_uint8, preset, precision=precision)
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
                       result: EpochResult) -> dict:
    """state_dicts plus plain metadata only, so the file loads with weights_only=True."""
    preset = config.recipe
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": preset.arch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": result.epoch,
        "metrics": asdict(result),
        "config": config.to_dict(),
        "class_names": list(CLASS_NAMES),
        "preprocessing": {"size": 28, "mean": preset.normalize[0], "std": preset.normalize[1],
                          "tta_flip": preset.tta_flip},
        "torch_version": torch_version(),
    }


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint file. Never unpickles code (weights_only=True)."""
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("arch") not in ARCHITECTURES:
        raise ValueError(f"{path} is not a checkpoint this version can read")
    model = build_model(payload["arch"]).to(device).to(memory_format=torch.channels_last)
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
) -> TrainResult:
    """Train from scratch, validate and checkpoint after every epoch.

    Callbacks may raise TrainingCancelled (or anything else) to stop; the exception
    propagates to the caller after the current batch."""
    device = pick_device(config.device)
    precision = pick_precision(device)
    if on_start is not None:
        on_start(device, precision)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # The data moves to the device once, as uint8; batches are cut and normalised there.
    x_train = torch.from_numpy(np.ascontiguousarray(train_images)).to(device)
    y_train = torch.from_numpy(np.ascontiguousarray(train_labels)).long().to(device)
    x_val = torch.from_numpy(np.ascontiguousarray(val_images)).to(device)
    y_val = torch.from_numpy(np.ascontiguousarray(val_labels)).long().to(device)

    model = build_model(config.recipe.arch).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    results = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_one_epoch(
            model, optimizer, x_train, y_train, config=config, epoch=epoch,
            generator=generator, precision=precision, on_progress=on_progress,
        )
        val_loss, val_acc = evaluate(model, x_val, y_val, config.recipe, precision=precision)
        result = EpochResult(
            epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
            val_acc=val_acc, seconds=time.perf_counter() - started, lr=optimizer.param_groups[0]["lr"],
        )
        results.append(result)
        path = checkpoint_dir / f"epoch-{epoch:03d}.pt"
        sha256 = save_checkpoint(path, checkpoint_payload(model, optimizer, config, result))
        if on_epoch is not None:
            on_epoch(result, SavedCheckpoint(path=path, sha256=sha256, size=path.stat().st_size))
    return TrainResult(device=device.type, hardware=describe_hardware(device), precision=precision,
                       torch_version=torch_version(), epochs=results)
