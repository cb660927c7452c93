"""What the engine reports back, as plain data (no torch), so the web side and the worker's
glue can read it without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from engine.metrics import Summary


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based, the epoch in progress
    epochs: int  # planned
    batch: int  # batches done in this epoch
    batches: int  # in this epoch (the last of a budgeted run may be shorter)
    step: int  # optimizer steps done in the whole run
    steps: int  # planned

    @property
    def fraction(self) -> float:
        return self.step / self.steps


@dataclass(frozen=True)
class EpochResult:
    """Exactly the figures the notebook printed per epoch, plus the learning rate."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float  # the whole epoch: training, validation
    lr: float
    train_seconds: float | None = None  # its training steps only (what a time budget counts)


@dataclass(frozen=True)
class EvaluationResult:
    summary: Summary
    class_names: list[str]
    dataset_name: str
    dataset_fingerprint: str
    sample_keys: list[str]
    device: str  # the hardware, in words
    precision: str  # fp32 or bf16, as in the run's validation on this device
    seconds: float  # loading the model, inference and metrics
