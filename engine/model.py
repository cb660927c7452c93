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


def build_model(arch: str, layers: Sequence[int | str] = (), head: str = "max") -> nn.Module:
    """`layers` and `head` shape a "convnet" (see ConvNet); the notebook's "seed" model takes none."""
    return ConvNet(layers, head) if arch == "convnet" else ARCHITECTURES[arch]()


def build_preset_model(preset: Preset) -> nn.Module:
    """Fresh weights in the preset's architecture."""
    return build_model(preset.arch, preset.layers, preset.head)


def to_device(model: nn.Module, device: torch.device) -> nn.Module:
    layout = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    return model.to(device, memory_format=layout)
