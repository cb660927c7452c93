"""finetune_gap's splits and its choice: the method is chosen on the selection sets, and the
selection's shops are neither trained on nor the reported hold-out's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dataset.photo_sets import PhotoFile
from tools import finetune_gap
from tools.finetune_gap import Method, choose, split_by_source, split_selection


def _photos(sizes: dict[str, int]) -> list[PhotoFile]:
    return [PhotoFile(path=Path(f"{shop}/{i}.jpg"), key=f"{shop}/{i}.jpg", label=i % 10, row={"source": shop})
            for shop, n in sizes.items() for i in range(n)]


def test_whole_shops_go_to_one_side_and_the_selection_holds_about_the_asked_photos():
    sizes = {f"shop {i}": 1 + (7 * i) % 12 for i in range(30)}
    rest, held = split_by_source(_photos(sizes))
    train, selection = split_selection(rest)

    shops = [{f.row["source"] for f in part} for part in (train, selection, held)]
    assert not (shops[0] & shops[1]) and not (shops[0] & shops[2]) and not (shops[1] & shops[2])
    assert all(shops)
    biggest = max(sizes.values())
    assert finetune_gap.SELECTION_PHOTOS <= len(selection) < finetune_gap.SELECTION_PHOTOS + biggest
    assert split_selection(rest) == (train, selection)  # the same shops every time


def test_the_choice_reads_only_the_selection_figures_keeps_fashion_mnist_and_balances_classes():
    base = {"shops": 0.5, "home": 0.6, "fmnist": 0.92}
    tuned = {
        "class": {"shops": 0.55, "home": 0.90, "fmnist": 0.921},
        "class+source": {"shops": 0.70, "home": 0.85, "fmnist": 0.922},
        "class+sqrt-source:w0.25": {"shops": 0.95, "home": 0.95, "fmnist": 0.91},  # a point of Fashion-MNIST lost
        "none": {"shops": 0.90, "home": 0.90, "fmnist": 0.93},  # a class without photos would lose its share
    }
    name, why = choose(base, tuned)
    assert name == "class+source"  # the best worst kind (70 % against 55 %)
    assert "class+sqrt-source:w0.25" in why and "none" in why
    assert choose(base, {"class+sqrt-source:w0.25": tuned["class+sqrt-source:w0.25"]})[0] is None
    tie = {"class": {"shops": 0.5, "home": 0.9, "fmnist": 0.92}, "class+source": {"shops": 0.5, "home": 0.8, "fmnist": 0.92}}
    assert choose(base, tie)[0] == "class"  # the same worst kind: the better sum


def test_methods_parse_with_their_own_share_rate_and_epochs():
    method = Method.parse("class+sqrt-source:w0.25:lr0.0002:e4")
    assert method == Method("class+sqrt-source", photo_weight=0.25, lr=0.0002, epochs=4)
    assert str(method) == "class+sqrt-source:w0.25:lr0.0002:e4"
    assert str(Method.parse("class")) == "class"
    for bad in ("by colour", "class:x3", "class:wmany"):
        with pytest.raises(argparse.ArgumentTypeError):
            Method.parse(bad)
