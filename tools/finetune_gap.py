"""Does fine-tuning on the team's labelled photos make every kind of real photo better? A
rerunnable measurement of the app's loop, with its own building blocks and no database:

    python -m tools.finetune_gap                               # base: a cached 3-epoch `fast` run
    python -m tools.finetune_gap --balance none class class+source
    python -m tools.finetune_gap --base var/checkpoints/run-3/epoch-010.pt --epochs 4

1. The labelled photos are what a team would have imported: the product photos of
   ../shared/photos and ../shared/photos-shops (20 shops) and the *train* split of
   ../shared/photos-home (people's photos at home, five classes).
2. Product photos are split by shop: a shop's photos are all in the product hold-out or all
   in the training side (by a hash of the shop's name), so the hold-out measures shops the
   fine-tune never saw, as the app meets new shops. Home photos are split as the app splits
   uploads (dataset.photo_split, by a hash of each file's bytes); only the train part of
   both is trained on.
3. The base checkpoint is fine-tuned as `manage.py train --finetune-from ID --with-photos` does
   (TrainConfig.for_finetune, the parent's weights, the photos mixed into every epoch with
   each --balance asked for; a photo's source is its shop or site, as import_photos records it).
4. Base and fine-tunes are scored, per class and per source with counts and 95 % (Wilson)
   intervals, on: the product hold-out; the home photos' *validation* split (never imported);
   Fashion-MNIST's 10,000 test images.

Nothing here was tuned on the product hold-out or the home validation split. SHARED_DIR
overrides where the photos are (default: the folder ``shared`` beside the repository).
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
from engine.config import BALANCES, TrainConfig
from engine.metrics import wilson_interval
from engine.prediction import load_predictor
from engine.training import ExtraImages, train
from tools.photo_gap import CACHE_DIR, best_epoch, shared_dir, trained_checkpoint


@dataclass(frozen=True)
class LabelledSet:
    name: str
    images: np.ndarray
    labels: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def photo_source(item: PhotoFile) -> str:
    """As import_photos records it: the manifest's source column, else its source_repo."""
    row = item.row or {}
    return (row.get("source") or row.get("source_repo") or "").strip()


def preprocessed(name: str, files: list[PhotoFile]) -> LabelledSet:
    """Preprocess once and cache: the pipeline is the app's, the files don't change (a new
    PREPROCESS_VERSION makes a new cache)."""
    listing = f"v{PREPROCESS_VERSION}\n" + "\n".join(f"{f.path}:{f.label}" for f in files)
    digest = hashlib.sha256(listing.encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"photos-{digest}.npz"
    if not cache.exists():
        eval_set = build_eval_set(name, files)
        if len(eval_set) != len(files):
            raise SystemExit(f"{name}: {len(files) - len(eval_set)} photos could not be read")
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, images=eval_set.images, labels=eval_set.labels)
    with np.load(cache) as arrays:
        return LabelledSet(name, arrays["images"], arrays["labels"], [photo_source(f) for f in files])


def split_by_hash(files: list[PhotoFile]) -> tuple[list[PhotoFile], list[PhotoFile]]:
    """(train part, held out), decided exactly as for an uploaded photo: by its bytes' sha256."""
    train, held_out = [], []
    for f in files:
        (held_out if is_held_out(hashlib.sha256(f.path.read_bytes()).hexdigest()) else train).append(f)
    return train, held_out


def split_by_source(files: list[PhotoFile]) -> tuple[list[PhotoFile], list[PhotoFile]]:
    """(training side, hold-out): a whole shop on one side, by a hash of its name."""
    train, held_out = [], []
    for f in files:
        (held_out if is_held_out(hashlib.sha256(photo_source(f).encode()).hexdigest()) else train).append(f)
    return train, held_out


def cell(correct: int, total: int) -> str:
    if not total:
        return "-"
    low, high = wilson_interval(correct, total)
    return f"{correct}/{total} {100 * correct / total:3.0f}% [{100 * low:.0f}-{100 * high:.0f}]"


def accuracy_rows(labelled: LabelledSet, predictions: dict[str, np.ndarray], by_source: bool) -> list[str]:
    width = 22
    lines = [f"{labelled.name} ({len(labelled)} images)", f"  {'':<26}" + "".join(f"{m:>{width}}" for m in predictions)]
    groups = [(CLASS_NAMES[i], labelled.labels == i) for i in range(NUM_CLASSES)]
    if by_source:
        sources = np.asarray(labelled.sources)
        groups += [(f"shop {s[:21]}", sources == s) for s in sorted(set(labelled.sources))]
    groups.append(("overall", np.ones(len(labelled), dtype=bool)))
    for name, chosen in groups:
        if chosen.any():
            lines.append(f"  {name:<26}" + "".join(
                f"{cell(int((p[chosen] == labelled.labels[chosen]).sum()), int(chosen.sum())):>{width}}"
                for p in predictions.values()))
    return lines


def predict(path: Path, images: np.ndarray) -> np.ndarray:
    return load_predictor(path, None, device="cpu").probabilities(images).argmax(1)


def finetuned(base: Path, base_payload: dict, photos: LabelledSet, balance: str, args) -> Path:
    config = TrainConfig.for_finetune(base_payload["config"], finetune_from=1, with_photos=True, epochs=args.epochs,
                                      lr=args.lr, photo_weight=args.photo_weight, seed=args.seed, limit=args.limit,
                                      photo_balance=balance)
    photos_digest = hashlib.sha256(photos.images.tobytes() + photos.labels.tobytes()).hexdigest()[:8]
    folder = CACHE_DIR / (f"finetune-{hashlib.sha256(str(base.resolve()).encode()).hexdigest()[:8]}-e{config.epochs}"
                          f"-lr{config.lr:g}-w{config.photo_weight:g}-{balance}-l{config.limit}-s{config.seed}"
                          f"-p{photos_digest}")
    if not (folder / f"epoch-{config.epochs:03d}.pt").exists():
        print(f"fine-tuning {base} into {folder}: {config.epochs} epochs, lr {config.lr:g}, photos' share "
              f"{config.photo_weight:g}, balance {balance} ...", file=sys.stderr)
        data = training_data(val_size=config.val_size, seed=config.seed, limit=config.limit)
        started = time.perf_counter()
        train(
            config, train_images=data.train_images, train_labels=data.train_labels,
            val_images=data.val_images, val_labels=data.val_labels, checkpoint_dir=folder,
            init_state=base_payload["model"],
            extra_train=ExtraImages(photos.images, photos.labels, config.photo_weight, photos.sources, balance),
            on_epoch=lambda r, _: print(f"  epoch {r.epoch}: val_acc {r.val_acc:.4f} ({r.seconds:.0f} s)",
                                        file=sys.stderr, flush=True),
        )
        print(f"  fine-tune took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return best_epoch(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the checkpoint to fine-tune (default: train and cache one)")
    parser.add_argument("--base-preset", default="fast", help="preset to train when --base is omitted")
    parser.add_argument("--base-epochs", type=int, default=3, help="its epochs (default 3, as a new user's first run)")
    parser.add_argument("--balance", nargs="+", choices=BALANCES, default=["class+source"],
                        help="one fine-tune per balance, side by side")
    parser.add_argument("--epochs", type=int, help="fine-tune epochs (default: the app's)")
    parser.add_argument("--lr", type=float, help="fine-tune learning rate (default: the app's)")
    parser.add_argument("--photo-weight", type=float, help="photos' share of each batch (default: the app's)")
    parser.add_argument("--limit", type=int, help="fine-tune on this many Fashion-MNIST images only (quicker)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    root = shared_dir()
    manifests = [root / "photos" / "manifest.csv", root / "photos-shops" / "manifest.csv",
                 root / "photos-home" / "manifest.csv"]
    if not all(m.is_file() for m in manifests):
        print(f"no photos at {root} (set SHARED_DIR)", file=sys.stderr)
        return 1
    product = read_manifest(manifests[0]) + read_manifest(manifests[1])
    home = read_manifest(manifests[2])
    product_train, product_held = split_by_source(product)
    home_train_part, _home_held = split_by_hash([f for f in home if f.row.get("split") == "train"])
    started = time.perf_counter()
    train_photos = preprocessed("train part", product_train + home_train_part)
    product_holdout = preprocessed(f"product hold-out ({len({photo_source(f) for f in product_held})} shops "
                                   "never trained on)", product_held)
    home_validation = preprocessed("home validation split (never imported)",
                                   [f for f in home if f.row.get("split") == "validation"])
    print(f"train part: {len(product_train)} product photos from {len({photo_source(f) for f in product_train})} shops "
          f"+ {len(home_train_part)} home photos; product hold-out {len(product_held)} "
          f"[preprocessing {time.perf_counter() - started:.0f} s]", file=sys.stderr)

    base = args.base or trained_checkpoint(args.base_preset, seed=args.seed, epochs=args.base_epochs)
    _, base_payload = load_checkpoint(base)
    tuned = {f"balance {b}": finetuned(base, base_payload, train_photos, b, args) for b in args.balance}
    print(f"base {base}\n" + "".join(f"{name}: {path}\n" for name, path in tuned.items()) +
          f"train part: {len(train_photos)} photos; preprocessing v{PREPROCESS_VERSION}; cells: right/n, "
          "accuracy [95 % Wilson interval]\n")
    test = fmnist_test_set()
    fmnist = LabelledSet("Fashion-MNIST test", test.images, test.labels, [""] * len(test.labels))
    for labelled, by_source in ((product_holdout, True), (home_validation, False), (fmnist, False)):
        predictions = {"base": predict(base, labelled.images)}
        predictions.update({name: predict(path, labelled.images) for name, path in tuned.items()})
        print("\n".join(accuracy_rows(labelled, predictions, by_source)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
