"""Labels worth a second look, in plain PyTorch and numpy (no Django): probabilities from models
that never trained on the photo they score, and cleanlab's label-quality scores from those.

A model is sure of the labels it learnt, wrong ones included, so its own probabilities hide
exactly the mistakes worth finding. The rule here: a photo's suspicion never comes from a model
that trained on it. Photos the examined model never saw are scored by it; the photos it did
train on are split into folds, and each fold is scored by a small, quick fine-tune of a
checkpoint that never saw them (the examined model's nearest such ancestor), trained on the
other folds (cross-fitting, as cleanlab's confident learning asks for). ``check_out_of_sample``
guards every scoring.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

from engine.config import TrainConfig
from engine.prediction import load_predictor
from engine.training import ExtraImages, train

# A fold's fine-tune: small and quick. Its Fashion-MNIST share keeps it from forgetting what a
# garment looks like; its photos are the other folds. Two epochs of 2,000 images plus as many
# photo draws take a few seconds on a 2-core CPU.
FOLD_EPOCHS = 2
FOLD_FMNIST_IMAGES = 2000
FOLD_VAL_SIZE = 500


class OutOfSampleViolation(RuntimeError):
    """A model was about to score a photo it trained on."""


def check_out_of_sample(*, scored: Iterable[int], trained_on: Iterable[int], model: str) -> None:
    """Refuse to let `model` score any photo it trained on (ids)."""
    overlap = sorted(set(scored) & set(trained_on))
    if overlap:
        raise OutOfSampleViolation(f"{model} trained on {len(overlap)} of the photos it would score "
                                   f"(e.g. {', '.join(map(str, overlap[:5]))}): its suspicion of them would be worthless")


def assign_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """(n,) fold index per item: a seeded shuffle cut into `folds` near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % folds
    return fold_of


@dataclass(frozen=True)
class FoldData:
    """Fashion-MNIST for the folds' fine-tunes: a few thousand training images and a small
    validation split (train() validates every epoch)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


def fold_config(parent: dict, *, base_checkpoint: int, seed: int, device: str = "auto") -> TrainConfig:
    """A fold's fine-tune from its base checkpoint (whose run had config `parent`): a fine-tune's
    gentler rate and photo share, but few epochs on a small subset."""
    return TrainConfig.for_finetune(parent, finetune_from=base_checkpoint, with_photos=True, epochs=FOLD_EPOCHS,
                                    limit=FOLD_FMNIST_IMAGES, val_size=FOLD_VAL_SIZE, seed=seed, device=device)


def cross_fitted_probabilities(
    *,
    ids: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    folds: int,
    config: TrainConfig,
    init_state: dict,
    base_trained_on: set[int],
    fmnist: FoldData,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """(N, 10) probabilities for the photos `ids` (images, labels), each from the fine-tune of
    the fold it is not in, and one {"model", "trained_on", "scored"} per fold for the record.
    `init_state` is the base checkpoint's weights; it must never have trained on these photos."""
    fold_of = assign_folds(len(ids), folds, config.seed)
    probabilities = np.zeros((len(ids), 10), dtype=np.float32)
    sources = []
    for fold in range(folds):
        scored, learnt = fold_of == fold, fold_of != fold
        name = f"fold {fold + 1} of {folds}"
        check_out_of_sample(scored=ids[scored].tolist(), trained_on=set(ids[learnt].tolist()) | base_trained_on,
                            model=name)
        with tempfile.TemporaryDirectory(prefix="label-issues-") as scratch:
            result = train(
                replace(config, seed=config.seed + fold),
                train_images=fmnist.train_images, train_labels=fmnist.train_labels,
                val_images=fmnist.val_images, val_labels=fmnist.val_labels, checkpoint_dir=Path(scratch),
                init_state=init_state,
                extra_train=ExtraImages(images=images[learnt], labels=labels[learnt], weight=config.photo_weight,
                                        balance=config.photo_balance),
                on_progress=(lambda p, fold=fold: on_progress((fold + p.fraction) / folds)) if on_progress else None,
            )
            predictor = load_predictor(Path(scratch) / f"epoch-{result.plan.epochs:03d}.pt", None, config.device)
            probabilities[scored] = predictor.probabilities(images[scored])
        sources.append({"model": name, "trained_on": sorted(ids[learnt].tolist()), "scored": sorted(ids[scored].tolist())})
    return probabilities, sources


def suspected_probability(probabilities: np.ndarray, suspected: np.ndarray) -> np.ndarray:
    return probabilities[np.arange(len(suspected)), suspected]


@dataclass(frozen=True)
class LabelQuality:
    """Per photo: score (0-1, higher is more suspect), the suspected class, the label's
    probability, and whether cleanlab flags it as an issue."""

    score: np.ndarray
    suspected: np.ndarray
    label_probability: np.ndarray
    is_issue: np.ndarray


def label_quality(labels: np.ndarray, probabilities: np.ndarray) -> LabelQuality:
    """cleanlab on out-of-sample probabilities. The score is 1 - cleanlab's self-confidence
    label quality, i.e. the out-of-sample probability that the label is not the class: a far-off
    mistake (a trouser labelled ankle boot) gets nearly 1 however sure the model is of the right
    class, where the normalized margin ranked it below the model's own confident confusions
    (an ankle boot it takes for a sandal). Flags come from find_label_issues (confident learning:
    per-class thresholds, pruned by the estimated noise rates); on a set too small for it to
    estimate those (a class with fewer than two photos), a photo is flagged when another class
    is likelier than its label."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    others = probabilities.copy()
    others[np.arange(len(labels)), labels] = -1
    suspected = others.argmax(1)
    counts = np.bincount(labels, minlength=probabilities.shape[1])
    if len(labels) >= 10 and (counts[counts > 0] >= 2).all():
        is_issue = find_label_issues(labels, probabilities, filter_by="prune_by_noise_rate")
    else:
        is_issue = suspected_probability(probabilities, suspected) > quality
    return LabelQuality(score=1 - quality, suspected=suspected,
                        label_probability=probabilities[np.arange(len(labels)), labels], is_issue=np.asarray(is_issue))
