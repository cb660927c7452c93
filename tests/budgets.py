"""Time budgets sized from this machine's speed right now, so a budgeted run in a test holds a
few epochs whether the machine is idle or busy (seen here: 15 to 700 ms a step)."""

from __future__ import annotations

import numpy as np
import torch

from engine import budget, training
from engine.config import TrainConfig
from engine.model import build_preset_model


def seconds_a_step(config: TrainConfig, images: np.ndarray, labels: np.ndarray) -> float:
    """Measured as the engine measures, on the preset's model and batch size."""
    model = build_preset_model(config.recipe)
    optimizer = training.make_optimizer(model, config)
    x = torch.from_numpy(np.array(images[:config.batch_size]))
    y = torch.from_numpy(np.array(labels[:config.batch_size], dtype=np.int64))
    generator = torch.Generator().manual_seed(0)
    return budget.seconds_per_step(lambda: training.train_step(
        model, optimizer, x, y, config=config, generator=generator, precision="fp32"), steps=5, warmup=2)


def budget_for(config: TrainConfig, images: np.ndarray, labels: np.ndarray, *, epochs: float) -> float:
    """Seconds that hold the speed probe and about `epochs` epochs of these images."""
    batches = -(-len(images) // config.batch_size)
    steps = budget.PROBE_STEPS + budget.PROBE_WARMUP + epochs * batches
    return max(10.0, steps * seconds_a_step(config, images, labels) / budget.MARGIN)
