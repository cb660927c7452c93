"""The architectures: the notebook's CNN and the batch-norm ConvNet the presets build."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from dataset.classes import NUM_CLASSES
from engine.config import Preset
from engine.hardware import uses_channels_last


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
    "M" a max pool; "P" a max pool right after the conv before it, ahead of its batch norm and
    ReLU (airbench's order: the same stage, cheaper). Pooling early keeps the costly wide
    layers at 14 and 7 px (a third 2x2 pool would drop the 7x7 map's last row and column).
    `head`: "max" pools the last map to one value per channel; "flatten" feeds the whole map
    to the linear layer, which keeps where things are (a sleeve's place tells a shirt from a
    bag); "flatten:N" adds a hidden layer of N units."""

    def __init__(self, layers: Sequence[int | str], head: str = "max") -> None:
        super().__init__()
        modules: list[nn.Module] = []
        channels = 1
        for item in layers:
            if item == "M":
                modules.append(nn.MaxPool2d(2))
            elif item == "P":
                if len(modules) < 3 or not isinstance(modules[-1], nn.ReLU) or isinstance(modules[-3], nn.MaxPool2d):
                    raise ValueError(f"{layers}: a 'P' pools the conv layer before it, and there is none to pool")
                # The same 2x2 max pool, taken between the conv and its batch norm and ReLU:
                # those then work on a quarter of the values. They are memory-bound on a CPU,
                # where at full size they took a quarter of a training step.
                modules.insert(len(modules) - 2, nn.MaxPool2d(2))
            else:
                # No conv bias: the batch norm right after it has its own.
                modules += [nn.Conv2d(channels, int(item), 3, padding=1, bias=False),
                            nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*modules)
        kind, _, hidden = head.partition(":")
        self.flatten = kind == "flatten"
        side = 28 // 2 ** sum(item in ("M", "P") for item in layers)
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


# Normalised 3x3 patches of Fashion-MNIST have spreads (eigenvalues) from 6.7 down to 0.023:
# this floor, far below them, only keeps the filters finite for images with flat directions.
WHITENING_EPS = 5e-4


@torch.no_grad()
def whiten_first_conv(model: nn.Module, images: torch.Tensor, *, eps: float = WHITENING_EPS) -> None:
    """Start the model's first 3x3 convolution as a whitening of `images`' 3x3 patches
    (airbench's patch whitening, for one channel): its filters are the patches' principal
    directions, each divided by its spread, in pairs of opposite sign so that the ReLU after
    it keeps both halves; the strongest directions first, and channels past 18 keep their
    random start. images: normalised as in training, float (N, 1, 28, 28).

    A random start spends the first epochs finding edge and texture detectors; this one starts
    with them, at every frequency the data has. The filters of flat directions start larger (up
    to 17x), so a gradient step moves them less (a batch norm follows, which ignores a filter's
    scale)."""
    conv = model.features[0] if isinstance(model, ConvNet) else None
    if not isinstance(conv, nn.Conv2d) or conv.in_channels != 1 or conv.kernel_size != (3, 3):
        raise ValueError("whitening starts a ConvNet whose first layer is a 3x3 conv of one channel")
    total, outer, count = torch.zeros(9, dtype=torch.float64), torch.zeros(9, 9, dtype=torch.float64), 0
    for chunk in images.split(1000):  # 784 patches an image: a whole set at once is 300 MB
        patches = F.unfold(chunk.float().cpu(), 3, padding=1).transpose(1, 2).reshape(-1, 9).double()
        total += patches.sum(0)
        outer += patches.T @ patches
        count += len(patches)
    mean = total / count
    covariance = (outer - count * torch.outer(mean, mean)) / (count - 1)
    spreads, directions = torch.linalg.eigh(covariance)  # ascending
    filters = (directions.T / torch.sqrt(spreads + eps)[:, None]).flip(0).reshape(9, 1, 3, 3)
    pairs = torch.stack([filters, -filters], dim=1).reshape(18, 1, 3, 3)
    n = min(len(pairs), conv.out_channels)
    conv.weight[:n] = pairs[:n].to(conv.weight)


def build_model(arch: str, layers: Sequence[int | str] = (), head: str = "max") -> nn.Module:
    """`layers` and `head` shape a "convnet" (see ConvNet); the notebook's "seed" model takes none."""
    return ConvNet(layers, head) if arch == "convnet" else ARCHITECTURES[arch]()


def build_preset_model(preset: Preset) -> nn.Module:
    """Fresh weights in the preset's architecture."""
    return build_model(preset.arch, preset.layers, preset.head)


def to_device(model: nn.Module, device: torch.device) -> nn.Module:
    layout = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    return model.to(device, memory_format=layout)
