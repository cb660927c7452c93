"""Does fine-tuning on the team's labelled photos close the real-photo gap? A rerunnable
measurement of issue 6's loop, with the app's own building blocks and no database:

    python -m tools.finetune_gap                       # base: a cached `fast` run (trained once)
    python -m tools.finetune_gap --base var/checkpoints/run-3/epoch-010.pt --epochs 4

1. The labelled photos are what a team would have imported: ../shared/photos (48 product
   photos) and the *train* split of ../shared/photos-home (people's photos at home).
2. They are split as the app splits them (dataset.photo_split, by a hash of each file's bytes):
   about 70 % train part, 30 % held out. Only the train part is trained on.
3. The base checkpoint is fine-tuned as `manage.py train --finetune-from ID --with-photos` does
   (TrainConfig.for_finetune, the parent's weights, the photos mixed into every epoch).
4. Base and fine-tune are scored on: Fashion-MNIST's 10,000 test images; the home photos'
   *validation* split (never imported, never trained on: the number that matters); the
   held-out product photos; the held-out part of the imported home photos. With counts.

Nothing here was tuned on the validation split or on held-out photos. SHARED_DIR overrides
where the photos are (default: the folder ``shared`` beside the repository).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset.classes import CLASS_NAMES, NUM_CLASSES
from dataset.eval_sets import fmnist_test_set
from dataset.fashion_mnist import training_data
from dataset.photo_sets import PhotoFile, build_eval_set, read_manifest
from dataset.photo_split import is_held_out
from dataset.photos import PREPROCESS_VERSION
from engine.checkpoints import load_checkpoint
from engine.config import TrainConfig
from engine.prediction import load_predictor
from engine.training import train
from tools.photo_gap import CACHE_DIR, best_epoch, shared_dir, trained_checkpoint


@dataclass(frozen=True)
class LabelledSet:
    name: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def preprocessed(name: str, files: list[PhotoFile]) -> LabelledSet:
    """Preprocess once and cache: the pipeline is the app's, the files don't change (a new
    PREPROCESS_VERSION makes a new cache)."""
    listing = f"v{PREPROCESS_VERSION}\n" + "\n".join(f"{f.key}:{f.label}" for f in files)
    digest = hashlib.sha256(listing.encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"photos-{digest}.npz"
    if cache.exists():
        with np.load(cache) as arrays:
            return LabelledSet(name, arrays["images"], arrays["labels"])
    eval_set = build_eval_set(name, files)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, images=eval_set.images, labels=eval_set.labels)
    return LabelledSet(name, eval_set.images, eval_set.labels)


def split_by_hash(files: list[PhotoFile]) -> tuple[list[PhotoFile], list[PhotoFile]]:
    """(train part, held out), decided exactly as for an uploaded photo: by its bytes' sha256."""
    train, held_out = [], []
    for f in files:
        (held_out if is_held_out(hashlib.sha256(f.path.read_bytes()).hexdigest()) else train).append(f)
    return train, held_out


def accuracy_rows(name: str, labels: np.ndarray, predictions: dict[str, np.ndarray]) -> list[str]:
    def cell(correct: int, total: int) -> str:
        return f"{correct}/{total} ({100 * correct / total:5.1f} %)" if total else "-"

    lines = [f"{name} ({len(labels)} images)", f"  {'class':<14}" + "".join(f"{m:>24}" for m in predictions)]
    for index in range(NUM_CLASSES):
        chosen = labels == index
        if chosen.any():
            lines.append(f"  {CLASS_NAMES[index]:<14}" + "".join(
                f"{cell(int((p[chosen] == index).sum()), int(chosen.sum())):>24}" for p in predictions.values()))
    lines.append(f"  {'overall':<14}" + "".join(
        f"{cell(int((p == labels).sum()), len(labels)):>24}" for p in predictions.values()))
    return lines


def predict(path: Path, images: np.ndarray) -> np.ndarray:
    return load_predictor(path, None, device="cpu").probabilities(images).argmax(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the checkpoint to fine-tune (default: train and cache one)")
    parser.add_argument("--base-preset", default="fast", help="preset to train when --base is omitted")
    parser.add_argument("--epochs", type=int, help="fine-tune epochs (default: the app's)")
    parser.add_argument("--lr", type=float, help="fine-tune learning rate (default: the app's)")
    parser.add_argument("--photo-weight", type=float, help="photos' share of each batch (default: the app's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    root = shared_dir()
    if not (root / "photos" / "manifest.csv").is_file() or not (root / "photos-home" / "manifest.csv").is_file():
        print(f"no photos at {root} (set SHARED_DIR)", file=sys.stderr)
        return 1
    product = read_manifest(root / "photos" / "manifest.csv")
    home = read_manifest(root / "photos-home" / "manifest.csv")
    home_train = [f for f in home if f.row.get("split") == "train"]
    home_validation = [f for f in home if f.row.get("split") == "validation"]
    product_train, product_held = split_by_hash(product)
    home_train_part, home_held = split_by_hash(home_train)

    started = time.perf_counter()
    train_photos = preprocessed("train part", product_train + home_train_part)
    sets = {
        "home validation split (never imported)": preprocessed("home validation", home_validation),
        "held-out product photos": preprocessed("held-out product", product_held),
        "held-out imported home photos": preprocessed("held-out home", home_held),
    }
    print(f"labelled photos imported: {len(product)} product + {len(home_train)} home (train split); "
          f"train part {len(train_photos)}, held out {len(product_held) + len(home_held)} "
          f"[preprocessing {time.perf_counter() - started:.0f} s]", file=sys.stderr)

    base = args.base or trained_checkpoint(args.base_preset, seed=args.seed)
    _, base_payload = load_checkpoint(base)
    config = TrainConfig.for_finetune(base_payload["config"], finetune_from=1, with_photos=True, epochs=args.epochs,
                                      lr=args.lr, photo_weight=args.photo_weight, seed=args.seed)
    folder = CACHE_DIR / (f"finetune-{hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:8]}-e{config.epochs}"
                          f"-lr{config.lr:g}-w{config.photo_weight:g}-s{config.seed}-pre{PREPROCESS_VERSION}")
    last = folder / f"epoch-{config.epochs:03d}.pt"
    if not last.exists():
        print(f"fine-tuning {base} into {folder}: {config.epochs} epochs, lr {config.lr:g}, photos' share "
              f"{config.photo_weight:g} ...", file=sys.stderr)
        data = training_data(val_size=config.val_size, seed=config.seed)
        t0 = time.perf_counter()
        train(
            config, train_images=data.train_images, train_labels=data.train_labels,
            val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder,
            init_state=base_payload["model"], extra_train=(train_photos.images, train_photos.labels, config.photo_weight),
            on_epoch=lambda r, _: print(f"  epoch {r.epoch}: val_acc {r.val_acc:.4f} ({r.seconds:.0f} s)",
                                        file=sys.stderr, flush=True),
        )
        print(f"  fine-tune took {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    tuned = best_epoch(folder)

    print(f"base {base}\nfine-tune {tuned} ({config.epochs} epochs, lr {config.lr:g}, photos' share "
          f"{config.photo_weight:g}, {len(train_photos)} train-part photos)\n")
    test = fmnist_test_set()
    for name, labelled in [("Fashion-MNIST test", LabelledSet("test", test.images, test.labels)), *sets.items()]:
        print("\n".join(accuracy_rows(name, labelled.labels, {
            "base": predict(base, labelled.images), "fine-tuned": predict(tuned, labelled.images)})) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
