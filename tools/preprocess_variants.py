"""Which preprocessing steps help? Accuracy of one checkpoint on the photos we may tune on, with
the current pipeline (dataset.photos.DEFAULT) and with each of its version-3 and -4 steps switched:

    python -m tools.preprocess_variants --checkpoint var/photo-gap/fast-.../epoch-003.pt

Sets, both kept apart from what the README reports: the *train* split of ../shared/photos-home,
and the product photos of the shops on the training side of tools.finetune_gap's split (the
hold-out's shops are never looked at here). Counts per set, with a 95 % Wilson interval, and
how many photos each variant makes differently from the current pipeline.

The variants differ only after GrabCut, the expensive step (~75 ms a photo): its cut, and the
colour mask it starts from, are computed once per photo and shared (a memo around the app's
own functions, so the pipeline measured is the app's), which makes six variants cost about one.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from dataset import photos
from dataset.photo_sets import Skipped, build_eval_set, read_manifest
from dataset.photos import DEFAULT, Settings, preprocess
from engine.metrics import wilson_interval
from engine.prediction import load_predictor
from tools.finetune_gap import split_by_source
from tools.photo_gap import shared_dir

VARIANTS: dict[str, Settings] = {
    "current (defaults)": DEFAULT,
    "no low-light lift": dataclasses.replace(DEFAULT, lift_low_light=False),
    "leave out detached parts": dataclasses.replace(DEFAULT, leave_out_detached=True),
    "one of a pair": dataclasses.replace(DEFAULT, one_of_a_pair=True),
    "leave out the wearer": dataclasses.replace(DEFAULT, leave_out_wearer=True),
    "all version-3 steps": dataclasses.replace(DEFAULT, leave_out_detached=True, one_of_a_pair=True,
                                               leave_out_wearer=True),
    "keep the wearer's skin (version 3)": dataclasses.replace(DEFAULT, leave_out_skin=False),
    "leave out skin up to 30 %": dataclasses.replace(DEFAULT, skin_share=(0.03, 0.3)),
    "leave out the wearer too": dataclasses.replace(DEFAULT, leave_out_wearer=True),
    "leave out a looser wearer": dataclasses.replace(DEFAULT, leave_out_wearer=True, wearer_shoulders=1.3,
                                                     wearer_head_fill=0.45, wearer_head_top=0.45),
}


# Settings from lift_low_light on: the version-3 and -4 steps and their knobs, none of which the colour
# mask or GrabCut reads.
_NAMES = [field.name for field in dataclasses.fields(Settings)]
AFTER_THE_CUT = [name for name in _NAMES[_NAMES.index("lift_low_light"):] if name != "lift_low_light"]


def _memo(function):
    """function(image or array, ...) remembered by the bytes of its arguments."""
    seen: dict[str, object] = {}

    def key_of(value) -> bytes:
        if isinstance(value, Settings):  # the switches measured here, and their knobs, act after these steps
            value = dataclasses.replace(value, **{name: getattr(DEFAULT, name) for name in AFTER_THE_CUT})
        if isinstance(value, np.ndarray):
            return value.tobytes() + str(value.shape).encode()
        if hasattr(value, "tobytes"):
            return value.tobytes() + str(value.size).encode()
        return repr(value).encode()

    def remembered(*args, **kwargs):
        key = hashlib.sha256(b"|".join(key_of(a) for a in [*args, *kwargs.values()])).hexdigest()
        if key not in seen:
            seen[key] = function(*args, **kwargs)
        return seen[key].copy()

    return remembered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--sets", nargs="+", choices=["home", "shops"], default=["home", "shops"],
                        help="which sets to score (shops alone: seconds, not minutes)")
    args = parser.parse_args(argv)
    root = shared_dir()
    product = read_manifest(root / "photos" / "manifest.csv") + read_manifest(root / "photos-shops" / "manifest.csv")
    sets = {
        "home photos, train split": [f for f in read_manifest(root / "photos-home" / "manifest.csv")
                                     if f.row.get("split") == "train"] if "home" in args.sets else [],
        "product photos, training-side shops": split_by_source(product)[0] if "shops" in args.sets else [],
    }
    sets = {name: files for name, files in sets.items() if files}
    predictor = load_predictor(args.checkpoint, None, device="cpu")
    photos.refine_with_grabcut = _memo(photos.refine_with_grabcut)
    photos.colour_mask = _memo(photos.colour_mask)
    reference: dict[str, np.ndarray] = {}
    for name in args.variants:
        settings = VARIANTS[name]
        cells = []
        for set_name, files in sets.items():
            started = time.perf_counter()
            skipped: list[Skipped] = []
            eval_set = build_eval_set(set_name, files, transform=partial(preprocess, settings=settings),
                                      skipped=skipped)
            right = int((predictor.probabilities(eval_set.images).argmax(1) == eval_set.labels).sum())
            low, high = wilson_interval(right, len(eval_set))
            changed = ""
            if set_name in reference:
                changed = f", {int((reference[set_name] != eval_set.images).any(axis=(1, 2)).sum())} made differently"
            else:
                reference[set_name] = eval_set.images
            cells.append(f"{set_name}: {right}/{len(eval_set)} ({100 * right / len(eval_set):.1f} %, "
                         f"95 % {100 * low:.0f}-{100 * high:.0f}){changed} [{time.perf_counter() - started:.0f} s]")
        print(f"{name}\n  " + "\n  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
