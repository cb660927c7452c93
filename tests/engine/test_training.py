"""The training engine on a few hundred real Fashion-MNIST images: seconds, no Django."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset.fashion_mnist import DatasetNotFound, load_split
from engine import checkpoints, hardware, inference, training
from engine.budget import fixed_plan
from engine.config import PRESETS, ConfigError, TrainConfig
from engine.model import build_model, build_preset_model, to_device, whiten_first_conv
from engine.results import EpochResult, Progress


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    try:
        split = load_split("train")
    except DatasetNotFound as exc:
        pytest.skip(str(exc))
    return {
        "train_images": split.images[:384], "train_labels": split.labels[:384],
        "val_images": split.images[-100:], "val_labels": split.labels[-100:],
    }


def small_config(**overrides) -> TrainConfig:
    """The default preset's recipe on a small batch, so a few hundred images make many steps."""
    return TrainConfig.for_preset("fast", **{"epochs": 2, "batch_size": 64, "device": "cpu", **overrides})


def metrics(result: training.TrainResult) -> list[tuple]:
    return [dataclasses.astuple(dataclasses.replace(epoch, seconds=0.0, train_seconds=0.0)) for epoch in result.epochs]


def test_loss_falls_over_a_few_epochs(images, tmp_path):
    result = training.train(small_config(epochs=3), checkpoint_dir=tmp_path, **images)

    losses = [epoch.train_loss for epoch in result.epochs]
    assert losses[-1] < losses[0] * 0.8
    assert result.epochs[-1].val_acc > 0.5  # ten classes: chance is 0.1
    assert result.precision in ("fp32", "bf16")


def test_it_reports_every_batch_and_checkpoints_every_epoch(images, tmp_path):
    progress, saved = [], []

    training.train(small_config(), checkpoint_dir=tmp_path, on_progress=progress.append,
                 on_epoch=lambda result, checkpoint: saved.append((result, checkpoint)), **images)

    assert len(progress) == 2 * 6  # 384 images in batches of 64, two epochs
    assert progress[-1].fraction == 1.0
    assert [result.epoch for result, _ in saved] == [1, 2]
    assert all(cp.path.is_file() and cp.sha256 == checkpoints.file_sha256(cp.path) for _, cp in saved)


class Stop(Exception):
    pass


def test_a_progress_callback_can_stop_the_run(images, tmp_path):
    def stop_at_third_batch(progress: Progress) -> None:
        if progress.batch == 3:
            raise Stop

    with pytest.raises(Stop):
        training.train(small_config(), checkpoint_dir=tmp_path, on_progress=stop_at_third_batch, **images)


def test_same_seed_and_config_give_identical_metrics(images, tmp_path):
    first = training.train(small_config(epochs=1), checkpoint_dir=tmp_path / "a", **images)
    second = training.train(small_config(epochs=1), checkpoint_dir=tmp_path / "b", **images)
    other_seed = training.train(small_config(epochs=1, seed=1), checkpoint_dir=tmp_path / "c", **images)

    assert metrics(first) == metrics(second)
    assert metrics(first) != metrics(other_seed)


def test_a_checkpoint_round_trips_with_identical_logits(images, tmp_path):
    config = small_config(epochs=1)
    model = to_device(build_preset_model(config.recipe), torch.device("cpu"))
    optimizer = training.make_optimizer(model, config)
    x_train = torch.from_numpy(images["train_images"].copy())
    y_train = torch.from_numpy(images["train_labels"].copy())
    generator = torch.Generator().manual_seed(0)
    training.train_one_epoch(model, optimizer, x_train, y_train, torch.arange(128), config=config, epoch=1,
                             plan=fixed_plan(config, batches_per_epoch=2), generator=generator, precision="fp32",
                             on_progress=None)
    result = EpochResult(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, seconds=1.0, lr=0.1)
    path = tmp_path / "epoch-001.pt"
    checkpoints.save_checkpoint(path, checkpoints.checkpoint_payload(model, optimizer, config, result))

    loaded, payload = checkpoints.load_checkpoint(path)
    raw = torch.load(path, weights_only=True)  # plain tensors and metadata only
    x = torch.from_numpy(images["val_images"].copy())

    used = checkpoints.inference_of(payload)
    assert used == config.recipe.inference
    assert raw["layers"] == list(config.recipe.layers)
    assert payload["precision"] == "fp32"
    assert not loaded.training
    assert torch.equal(inference.predict_logits(loaded, x, used), inference.predict_logits(model, x, used))


def test_flip_averaging_is_the_mean_of_the_image_and_its_mirror(images, tmp_path):
    training.train(small_config(epochs=1), checkpoint_dir=tmp_path, **images)
    model, payload = checkpoints.load_checkpoint(tmp_path / "epoch-001.pt")
    x = torch.from_numpy(images["val_images"][:50].copy())
    used = checkpoints.inference_of(payload)
    assert used.tta_flip

    averaged = inference.predict_logits(model, x, used, batch_size=16)
    plain = dataclasses.replace(used, tta_flip=False)
    by_hand = (inference.predict_logits(model, x, plain) + inference.predict_logits(model, x.flip(2), plain)) / 2

    assert averaged.shape == (50, 10) and averaged.dtype == torch.float32
    assert torch.allclose(averaged, by_hand, atol=1e-5)


def test_augment_keeps_shape_and_dtype():
    batch = torch.randint(0, 256, (32, 28, 28), dtype=torch.uint8)

    out = training.augment(batch, torch.Generator().manual_seed(0))

    assert out.shape == batch.shape and out.dtype == torch.uint8


def test_augment_only_shifts_by_up_to_two_pixels_and_mirrors():
    image = torch.zeros(28, 28, dtype=torch.uint8)
    image[3:10, 5:8] = 200  # an asymmetric bar, so a mirror image differs from a shift
    image[20, 2] = 90
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
    crops = [padded[dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)]
    allowed = torch.stack(crops + [crop.flip(1) for crop in crops])  # crop, then maybe mirror

    out = training.augment(image.expand(400, 28, 28).contiguous(), torch.Generator().manual_seed(0))

    matches = (out[:, None] == allowed[None]).all(dim=(2, 3))  # (400 outputs, 50 allowed)
    assert matches.any(1).all()
    seen = matches.float().argmax(1).unique()
    assert len(seen) > 40  # every shift and the mirror all turn up, not just a few
    assert ((seen >= 25).any() and (seen < 25).any())


def test_augment_without_padding_only_mirrors():
    image = torch.zeros(28, 28, dtype=torch.uint8)
    image[3:10, 5:8] = 200
    batch = image.expand(200, 28, 28).contiguous()

    out = training.augment(batch, torch.Generator().manual_seed(0), pad=0)

    mirrored = (out == image.flip(1)).all(dim=(1, 2))
    assert ((out == image).all(dim=(1, 2)) | mirrored).all()  # never shifted
    assert 60 < int(mirrored.sum()) < 140  # about half of them mirrored


def test_lr_warms_up_then_falls_to_zero():
    onecycle = dataclasses.replace(PRESETS["fast"], schedule="onecycle", warmup_fraction=0.1)
    factors = [training.lr_factor(step, 100, onecycle) for step in range(100)]

    assert factors[0] == pytest.approx(0.1)
    assert factors[9] == pytest.approx(1.0)  # the peak at the end of the ten warm-up steps
    assert factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.5)
    assert factors[99] == pytest.approx(1 / 90)  # the last step still learns a little
    assert training.lr_factor(100, 100, onecycle) == 0.0
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    constant = dataclasses.replace(onecycle, schedule="constant")
    assert {training.lr_factor(step, 100, constant) for step in range(100)} == {1.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_on_a_cpu_machine_is_refused(images, tmp_path):
    with pytest.raises(hardware.DeviceUnavailable):
        hardware.pick_device("cuda")
    with pytest.raises(hardware.DeviceUnavailable):
        training.train(small_config(device="cuda"), checkpoint_dir=tmp_path, **images)


def test_a_fine_tune_starts_from_the_given_weights(images, tmp_path):
    training.train(small_config(epochs=1), checkpoint_dir=tmp_path / "base", **images)
    base = torch.load(tmp_path / "base" / "epoch-001.pt", weights_only=True)["model"]

    # A learning rate too small to move the weights: the fine-tune must end where it started.
    training.train(small_config(epochs=1, lr=1e-9), checkpoint_dir=tmp_path / "tuned", init_state=base, **images)
    tuned = torch.load(tmp_path / "tuned" / "epoch-001.pt", weights_only=True)["model"]

    conv = "features.0.weight"
    torch.manual_seed(0)
    fresh = build_preset_model(PRESETS["fast"]).state_dict()
    assert not torch.allclose(fresh[conv], base[conv], atol=1e-3)  # so starting afresh would show
    assert torch.allclose(tuned[conv], base[conv], atol=1e-6)


def test_extra_images_make_up_their_share_of_every_epoch():
    order = training.epoch_order(100, 3, 0.2, torch.Generator().manual_seed(0))

    assert len(order) == 125  # 25 of 125 are extra: a fifth
    assert sorted(order[order < 100].tolist()) == list(range(100))  # each main image once
    assert ((order >= 100) & (order < 103)).sum() == 25
    assert not torch.equal(order[:100], torch.arange(100))  # shuffled together
    assert len(training.epoch_order(100, 3, 0.0, torch.Generator())) == 100


def test_train_mixes_in_extra_images(images, tmp_path):
    extra = training.ExtraImages(images["val_images"][:5], images["val_labels"][:5], 0.25)
    progress = []

    result = training.train(small_config(epochs=1), checkpoint_dir=tmp_path, extra_train=extra,
                            on_progress=progress.append, **images)

    assert progress[-1].batches == 8  # 384 main + 128 extra images, in batches of 64
    assert result.epochs[0].train_loss > 0
    with pytest.raises(ValueError):
        training.ExtraImages(extra.images, extra.labels, 1.0)


def _extra_draws(main_labels, extra, seed=0):
    """The classes of one epoch's extra draws, and how many of them were photos."""
    weights = training.draw_weights(np.asarray(main_labels), extra)
    n_main = len(main_labels)
    order = training.epoch_order(n_main, len(extra.labels), extra.weight, torch.Generator().manual_seed(seed),
                                 None if weights is None else torch.from_numpy(weights))
    all_labels = np.concatenate([main_labels, extra.labels])
    extra_slots = len(order) - n_main
    # Every main image appears once; whatever else is in the epoch is a draw.
    counts = np.bincount(order.numpy(), minlength=n_main + len(extra.labels))
    counts[:n_main] -= 1
    draws = np.repeat(np.arange(len(counts)), counts)
    assert len(draws) == extra_slots
    return all_labels[draws], draws >= n_main


def test_balanced_draws_keep_a_share_for_classes_without_photos():
    main_labels = np.repeat(np.arange(10), 500)  # Fashion-MNIST stand-in: 500 of each class
    # 900 photos of T-shirts and 100 of trousers; no photo of the other eight classes.
    extra = training.ExtraImages(np.zeros((1000, 28, 28), np.uint8), np.array([0] * 900 + [1] * 100), 0.5,
                                 balance="class")

    classes, is_photo = _extra_draws(main_labels, extra)

    shares = np.bincount(classes, minlength=10) / len(classes)
    assert np.all(np.abs(shares - 0.1) < 0.02), shares  # every class a tenth, T-shirts not nine tenths
    assert is_photo[classes == 0].all() and is_photo[classes == 1].all()  # from the photos where there are some
    assert not is_photo[classes >= 2].any()  # from Fashion-MNIST where there are none

    unbalanced, _ = _extra_draws(main_labels, training.ExtraImages(extra.images, extra.labels, 0.5))
    assert abs((unbalanced == 0).mean() - 0.9) < 0.02  # drawn alike, the T-shirts would take nine tenths


def test_balance_by_source_keeps_one_shop_from_crowding_out_the_rest():
    main_labels = np.repeat(np.arange(10), 100)
    labels = np.array([0] * 1000)
    sources = ["home"] * 950 + ["shop A"] * 40 + ["shop B"] * 10
    extra = training.ExtraImages(np.zeros((1000, 28, 28), np.uint8), labels, 0.5, groups=sources, balance="class+source")

    weights = training.draw_weights(main_labels, extra)
    photo_weights = weights[len(main_labels):]
    per_source = {s: photo_weights[np.asarray(sources) == s].sum() for s in ("home", "shop A", "shop B")}
    assert per_source == pytest.approx({"home": 1 / 30, "shop A": 1 / 30, "shop B": 1 / 30})  # a tenth, in three
    by_class = training.draw_weights(main_labels, training.ExtraImages(extra.images, labels, 0.5, groups=sources,
                                                                        balance="class"))[len(main_labels):]
    assert by_class[np.asarray(sources) == "home"].sum() == pytest.approx(0.095)  # by class only: home takes 95 %


def _per_source(sources, balance, labels=None):
    main_labels = np.repeat(np.arange(10), 100)
    labels = np.zeros(len(sources), dtype=np.int64) if labels is None else labels
    extra = training.ExtraImages(np.zeros((len(sources), 28, 28), np.uint8), labels, 0.5, groups=sources,
                                 balance=balance)
    photo_weights = training.draw_weights(main_labels, extra)[len(main_labels):]
    return {s: photo_weights[np.asarray(sources) == s].sum() for s in sorted(set(sources))}


def test_square_root_share_gives_a_source_with_100x_the_photos_10x_the_draws():
    sources = ["home"] * 400 + ["shop A"] * 4 + ["shop B"] * 1
    per_source = _per_source(sources, "class+sqrt-source")
    assert per_source["home"] / per_source["shop A"] == pytest.approx(10)  # 100x the photos, 10x the draws
    assert per_source["shop A"] / per_source["shop B"] == pytest.approx(2)
    assert sum(per_source.values()) == pytest.approx(0.1)  # still the class's tenth

    # Drawn: the home photos take 20/23 of the class's draws, not 400/405.
    extra = training.ExtraImages(np.zeros((405, 28, 28), np.uint8), np.zeros(405, np.int64), 0.5,
                                 groups=sources, balance="class+sqrt-source")
    classes, is_photo = _extra_draws(np.repeat(np.arange(10), 2000), extra)
    assert abs(is_photo.mean() - 0.1) < 0.01
    order = training.epoch_order(20000, 405, 0.5, torch.Generator().manual_seed(0),
                                 torch.from_numpy(training.draw_weights(np.repeat(np.arange(10), 2000), extra)))
    drawn = order[order >= 20000].numpy() - 20000
    assert abs((drawn < 400).mean() - 20 / 23) < 0.03


def test_capped_share_grows_with_a_sources_photos_only_up_to_the_cap():
    cap = training.SOURCE_SHARE_CAP
    sources = ["home"] * (100 * cap) + ["shop A"] * cap + ["shop B"] * 1
    per_source = _per_source(sources, "class+capped-source")
    assert per_source["home"] == pytest.approx(per_source["shop A"])  # past the cap, alike
    assert per_source["shop A"] / per_source["shop B"] == pytest.approx(cap)  # below it, by their photos


def test_each_class_keeps_its_tenth_whatever_the_source_balance():
    labels = np.array([0] * 300 + [1] * 3 + [0] * 2)
    sources = ["home"] * 300 + ["shop"] * 5
    for balance in ("class", "class+source", "class+sqrt-source", "class+capped-source"):
        extra = training.ExtraImages(np.zeros((305, 28, 28), np.uint8), labels, 0.5, groups=sources, balance=balance)
        main_labels = np.repeat(np.arange(10), 100)
        weights = training.draw_weights(main_labels, extra)
        photo_weights = weights[len(main_labels):]
        assert photo_weights[labels == 0].sum() == pytest.approx(0.1), balance
        assert photo_weights[labels == 1].sum() == pytest.approx(0.1), balance
        assert weights[:len(main_labels)][main_labels == 5].sum() == pytest.approx(0.1), balance


def test_runs_recorded_before_balancing_read_as_unbalanced():
    old = TrainConfig.for_preset("fast", epochs=2).to_dict()
    del old["photo_balance"]
    assert TrainConfig.from_dict(old).photo_balance == "none"
    assert TrainConfig.for_preset("fast").photo_balance == "class"
    with pytest.raises(ConfigError, match="photo balance"):
        TrainConfig.for_preset("fast", photo_balance="by colour")


def test_every_preset_builds_and_says_what_to_expect():
    assert {"seed", "fast", "best"} <= set(PRESETS)
    for preset in PRESETS.values():
        model = build_preset_model(preset)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        assert len(preset.description) > 40
        TrainConfig.for_preset(preset.name).validate()


def test_a_p_pools_its_conv_before_the_batch_norm_and_computes_the_pooled_function():
    model = build_model("convnet", (4, "P", 6, "P", 8), "flatten:16").eval()
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"] * 2 + ["Conv2d", "BatchNorm2d", "ReLU"]
    assert model.head[0].in_features == 8 * 7 * 7
    x = torch.randn(3, 1, 28, 28)
    conv, norm = model.features[0], model.features[2]
    by_hand = torch.relu(norm(torch.nn.functional.max_pool2d(conv(x), 2)))
    assert torch.allclose(model.features[:4](x), by_hand)


def test_a_p_with_no_conv_before_it_is_refused():
    with pytest.raises(ValueError, match="'P' pools the conv layer before it"):
        build_model("convnet", ("P", 8), "max")
    with pytest.raises(ValueError, match="'P'"):
        build_model("convnet", (8, "M", "P", 16), "max")
    with pytest.raises(ValueError, match="'P'"):
        build_model("convnet", (8, "P", "P", 16), "max")


def test_the_config_module_does_not_import_torch():
    code = "import sys, engine.config, engine.results, engine.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_whitening_start_decorrelates_the_images_patches(images):
    model = build_preset_model(PRESETS["fast"])
    before = model.features[0].weight.detach().clone()
    x = inference.normalize(torch.from_numpy(images["train_images"].copy()), PRESETS["fast"].inference)
    whiten_first_conv(model, x)
    weight = model.features[0].weight.detach()

    assert torch.equal(weight[1::2][:9], -weight[0::2][:9])  # each direction twice, with both signs
    assert torch.equal(weight[18:], before[18:])  # channels past the nine pairs keep their random start
    # Through the nine positive filters, the patches come out uncorrelated, each with a spread
    # of spread / (spread + eps): about one for every direction that carries real signal.
    out = torch.nn.functional.conv2d(x, weight[0:18:2], padding=1).transpose(0, 1).reshape(9, -1).double()
    covariance = torch.cov(out)
    off_diagonal = covariance - torch.diag(torch.diag(covariance))
    assert off_diagonal.abs().max() < 1e-3
    assert torch.all(torch.diag(covariance)[:6] > 0.8)  # the strongest directions first
    assert torch.all(torch.diag(covariance) <= 1 + 1e-6)


def test_a_fresh_run_of_fast_starts_whitened_on_its_own_images(images, tmp_path):
    assert PRESETS["fast"].whiten
    # A learning rate too small to move the weights: the checkpoint holds the start.
    training.train(small_config(epochs=1, lr=1e-9), checkpoint_dir=tmp_path, **images)
    start = torch.load(tmp_path / "epoch-001.pt", weights_only=True)["model"]["features.0.weight"]

    expected = build_preset_model(PRESETS["fast"])
    x = inference.normalize(torch.from_numpy(images["train_images"][:training.WHITENING_IMAGES].copy()),
                            PRESETS["fast"].inference)
    whiten_first_conv(expected, x)
    assert torch.allclose(start[:18], expected.features[0].weight[:18], rtol=1e-4, atol=1e-5)


def test_only_a_convnet_with_a_3x3_first_conv_can_start_whitened():
    with pytest.raises(ValueError, match="first layer is a 3x3 conv"):
        whiten_first_conv(build_model("seed"), torch.zeros(2, 1, 28, 28))
    narrow = build_model("convnet", (8, "P", 16), "max")  # 8 channels: the four strongest pairs only
    whiten_first_conv(narrow, torch.randn(4, 1, 28, 28))
    assert torch.equal(narrow.features[0].weight[1], -narrow.features[0].weight[0])


def test_a_fine_tune_of_fast_keeps_the_rate_its_defaults_were_chosen_at():
    # fast's peak rate doubled to 4e-3 after the fine-tune's defaults were measured at 6e-4.
    parent = TrainConfig.for_preset("fast", epochs=2).to_dict()
    assert TrainConfig.for_finetune(parent, finetune_from=1).lr == pytest.approx(6e-4)
    assert TrainConfig.for_finetune({**parent, "preset": "best"}, finetune_from=1).lr == pytest.approx(
        PRESETS["best"].lr * 0.3)


def test_top_up_trusts_a_class_s_photos_as_they_grow():
    main_labels = np.repeat(np.arange(10), 100)
    # One pullover photo, K sandal photos, 50 K T-shirt photos, nothing else.
    k = training.TOP_UP_PHOTOS
    labels = np.array([2] + [5] * k + [0] * (50 * k))
    extra = training.ExtraImages(np.zeros((len(labels), 28, 28), np.uint8), labels, 0.5, balance="class+top-up")
    weights = training.draw_weights(main_labels, extra)
    photos, stand_ins = weights[len(main_labels):], weights[:len(main_labels)]

    for label in range(10):  # every class still a tenth, photos and stand-ins together
        assert photos[labels == label].sum() + stand_ins[main_labels == label].sum() == pytest.approx(0.1)
    assert photos[labels == 2].sum() == pytest.approx(0.1 / (k + 1))  # the one pullover: 1/(K+1) of its tenth
    assert photos[labels == 5].sum() == pytest.approx(0.05)  # K sandals: half
    assert photos[labels == 0].sum() == pytest.approx(0.1 * 50 / 51)  # many T-shirts: nearly all photos
    assert stand_ins[main_labels == 7].sum() == pytest.approx(0.1)  # no photo: all Fashion-MNIST

    by_class = training.draw_weights(main_labels, training.ExtraImages(extra.images, labels, 0.5, balance="class"))
    assert by_class[len(main_labels):][labels == 2].sum() == pytest.approx(0.1)  # "class": one photo, whole tenth
