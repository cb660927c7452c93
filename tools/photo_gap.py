"""How much does preprocessing close the real-photo gap? Accuracy of one checkpoint on real
photos, with the notebook's plain preprocessing (grayscale, squash to 28x28) and with ours
(dataset.photos.preprocess), per class and overall, with counts.

    python -m tools.photo_gap                          # trains (once) and caches a seed checkpoint
    python -m tools.photo_gap --checkpoint var/checkpoints/run-3/epoch-010.pt
    python -m tools.photo_gap --train-preset fast --home-split train   # the split we tuned on

Sets: ../shared/photos (48 product photos, all ten classes, clean backgrounds) and the
validation split of ../shared/photos-home (people's own clothes at home, five classes). The
preprocessing's settings were chosen on the home photos' *train* split and the Fashion-MNIST
training set's statistics, never on the sets reported by default. SHARED_DIR overrides
where the photos are (default: the folder ``shared`` beside the repository).

Without --checkpoint, a checkpoint is trained with engine.training.train on Fashion-MNIST
(seed 0, the preset's epochs; the ``seed`` preset is the notebook's model, about six minutes
on a laptop CPU) and cached under var/photo-gap/, so later runs reuse it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from dataset.classes import CLASS_NAMES, NUM_CLASSES
from dataset.eval_sets import EvalSet
from dataset.photo_sets import PhotoFile, Skipped, build_eval_set, read_manifest
from dataset.photos import PREPROCESS_VERSION, plain_preprocess, preprocess
from engine.config import PRESETS, TrainConfig

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "var" / "photo-gap"


def shared_dir() -> Path:
    return Path(os.environ.get("SHARED_DIR") or REPO.parent / "shared")


def trained_checkpoint(preset: str, seed: int = 0, epochs: int | None = None) -> Path:
    """The best epoch of a run of ``preset`` on Fashion-MNIST (its own epochs unless ``epochs``),
    trained once and cached."""
    from dataset.fashion_mnist import training_data
    from engine.training import train

    # A fixed number of epochs (the preset's), not a time budget: the same weights on any machine.
    config = TrainConfig.for_preset(preset, seed=seed, epochs=epochs or PRESETS[preset].epochs)
    # The recipe's digest in the name: retuning a preset trains afresh instead of reusing old weights
    # (its description is words for people, left out so that rewording keeps the cache).
    settings = {k: v for k, v in dataclasses.asdict(config.recipe).items() if k != "description"}
    recipe = hashlib.sha256(repr(settings).encode()).hexdigest()[:8]
    folder = CACHE_DIR / (f"{preset}-{recipe}-seed{seed}" + (f"-e{epochs}" if epochs else ""))
    last = folder / f"epoch-{config.epochs:03d}.pt"
    if not last.exists():
        print(f"training a {preset} checkpoint ({config.epochs} epochs) into {folder} ...", file=sys.stderr)
        data = training_data(val_size=config.val_size, seed=config.seed)
        train(
            config, train_images=data.train_images, train_labels=data.train_labels,
            val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder,
            on_epoch=lambda r, _: print(f"  epoch {r.epoch}: val_acc {r.val_acc:.4f}", file=sys.stderr, flush=True),
        )
    return best_epoch(folder)


def best_epoch(folder: Path) -> Path:
    """The checkpoint of the epoch with the best Fashion-MNIST validation accuracy (the earliest
    on a tie), as the app keeps a run's best; never chosen by photos."""
    import torch

    def val_acc(path: Path) -> float:
        return torch.load(path, map_location="cpu", weights_only=True)["metrics"]["val_acc"]

    return max(sorted(folder.glob("epoch-*.pt")), key=lambda p: (val_acc(p), -int(p.stem.split("-")[1])))


def photo_sets(home_split: str) -> list[tuple[str, list[PhotoFile]]]:
    root = shared_dir()
    product = read_manifest(root / "photos" / "manifest.csv")
    home = [f for f in read_manifest(root / "photos-home" / "manifest.csv") if f.row.get("split") == home_split]
    return [("product photos (../shared/photos)", product),
            (f"home photos, {home_split} split (../shared/photos-home)", home)]


def accuracy_table(name: str, labels: np.ndarray, results: dict[str, np.ndarray]) -> str:
    """Per-class and overall accuracy, 'correct/total (pct)', one column per method."""
    methods = list(results)
    lines = [name, f"  {'class':<14}" + "".join(f"{m:>22}" for m in methods)]

    def cell(correct: int, total: int) -> str:
        return f"{correct}/{total} ({100 * correct / total:5.1f} %)" if total else "-"

    for index in range(NUM_CLASSES):
        chosen = labels == index
        if chosen.any():
            lines.append(f"  {CLASS_NAMES[index]:<14}" + "".join(
                f"{cell(int((results[m][chosen] == index).sum()), int(chosen.sum())):>22}" for m in methods))
    lines.append(f"  {'overall':<14}" + "".join(
        f"{cell(int((results[m] == labels).sum()), len(labels)):>22}" for m in methods))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint file (default: train and cache one)")
    parser.add_argument("--train-preset", choices=list(PRESETS), default="seed",
                        help="preset to train when --checkpoint is omitted (default: seed, the notebook's model)")
    parser.add_argument("--home-split", choices=["validation", "train"], default="validation",
                        help="home photos to score (the preprocessing was tuned on 'train')")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    if not (shared_dir() / "photos" / "manifest.csv").is_file():
        print(f"no photos at {shared_dir()} (set SHARED_DIR)", file=sys.stderr)
        return 1
    from engine.prediction import load_predictor

    checkpoint = args.checkpoint or trained_checkpoint(args.train_preset)
    predictor = load_predictor(checkpoint, None, device=args.device)
    payload = predictor.payload
    print(f"checkpoint {checkpoint}: preset {payload['config']['preset']}, epoch {payload['epoch']}, "
          f"Fashion-MNIST val_acc {payload['metrics']['val_acc']:.4f}; preprocessing v{PREPROCESS_VERSION}\n")
    for name, files in photo_sets(args.home_split):
        results, labels = {}, None
        for method, transform in (("plain (notebook)", plain_preprocess), ("ours", preprocess)):
            started = time.perf_counter()
            skipped: list[Skipped] = []
            eval_set: EvalSet = build_eval_set(name, files, transform=transform, skipped=skipped)
            results[method] = predictor.probabilities(eval_set.images).argmax(1)
            labels = eval_set.labels
            print(f"  [{method}: {len(eval_set)} photos, {len(skipped)} skipped, "
                  f"{time.perf_counter() - started:.1f} s]", file=sys.stderr)
        print(accuracy_table(name, labels, results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
