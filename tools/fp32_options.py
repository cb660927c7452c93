"""What makes fp32 training fast on this CPU: each option of the engine's training step timed
on its own, in a process of its own (OpenMP reads its settings when torch loads).

    python -m tools.fp32_options                  # every option, the `fast` preset, 2 threads
    python -m tools.fp32_options --steps 40 --json fp32.json

Each line is one option against the engine as it stands ("engine"): training images per
second of the `fast` preset's real step (augmentation, normalisation, forward, backward,
AdamW), median of the timed steps after warm-up, and the others' load while it ran (figures
from a busy machine say little). torch.compile's line counts its compile time separately.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name -> (environment, options for the step)
OPTIONS: dict[str, tuple[dict[str, str], dict]] = {
    "engine": ({}, {}),
    "NCHW instead of channels_last": ({}, {"channels_last": False}),
    "pool after batch norm and ReLU (the earlier order)": ({}, {"pool_after_relu": True}),
    "OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}),
    "1 thread": ({"OMP_NUM_THREADS": "1"}, {}),
    "batch 256": ({}, {"batch_size": 256}),
    "batch 64": ({}, {"batch_size": 64}),
    "augmentation alone (its share of a step)": ({}, {"augment_only": True}),
    "flush denormals": ({}, {"flush_denormal": True}),
    "torch.compile": ({}, {"compile": True}),
    "oneDNN off (ATen's own convolutions)": ({}, {"mkldnn": False}),
    "OMP_PROC_BIND=close": ({"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}, {}),
}


def measure(name: str, options: dict, steps: int, preset: str) -> dict:
    """Time the engine's training step (engine.training.train_step) with one option changed."""
    import torch

    from dataset.fashion_mnist import load_split
    from engine import budget, training
    from engine.config import PRESETS, TrainConfig
    from engine.hardware import configure_threads
    from engine.model import build_preset_model
    from tools.bench import OthersLoad

    device = torch.device("cpu")
    threads = configure_threads(device)
    if options.get("mkldnn") is False:
        torch.backends.mkldnn.enabled = False
    if options.get("flush_denormal"):
        torch.set_flush_denormal(True)
    recipe = PRESETS[preset]
    batch = options.get("batch_size", recipe.batch_size)
    config = TrainConfig.for_preset(preset, epochs=1, batch_size=batch, device="cpu")
    torch.manual_seed(0)
    layout = torch.channels_last if options.get("channels_last", True) else torch.contiguous_format
    if options.get("pool_after_relu"):
        recipe = dataclasses.replace(recipe, layers=tuple("M" if item == "P" else item for item in recipe.layers))
    model = build_preset_model(recipe).to(device, memory_format=layout)
    optimizer = training.make_optimizer(model, config)
    stepper = torch.compile(model) if options.get("compile") else model
    split = load_split("train")
    images = torch.from_numpy(split.images[:batch * 8].copy())
    labels = torch.from_numpy(split.labels[:batch * 8].astype("int64"))
    generator = torch.Generator().manual_seed(0)
    count = iter(range(10**9))

    def step() -> None:
        i = next(count) % 8
        x, y = images[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch]
        if options.get("augment_only"):
            training.augment(x, generator, pad=recipe.crop_pad)
        else:
            training.train_step(stepper, optimizer, x, y, config=config, generator=generator, precision="fp32")

    compile_s = None
    if options.get("compile"):
        started = time.perf_counter()
        step()
        compile_s = time.perf_counter() - started
    others = OthersLoad()
    seconds = budget.seconds_per_step(step, steps=steps, warmup=3)
    return {"option": name, "threads": threads, "batch_size": batch, "img_per_s": batch / seconds,
            "ms_per_step": seconds * 1000, "compile_s": compile_s, "others_load": others.cores()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per option")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--only", action="append", help="just this option (repeatable)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--cpu-isa", choices=("avx2",), help="as on a CPU with only this instruction set "
                        "(oneDNN and ATen capped, as tools.bench --cpu-isa does)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one option in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, OPTIONS[args.one][1], args.steps, args.preset)))
        return 0

    import torch  # noqa: PLC0415

    from engine.hardware import cpu_flags, cpu_name, cpu_threads, pick_precision  # noqa: PLC0415
    from tools.bench import EMULATED_CPUS, FLAGS_SHOWN, emulation_words  # noqa: PLC0415

    threads = cpu_threads()
    caps = EMULATED_CPUS[args.cpu_isa] if args.cpu_isa else {}
    if caps:
        print(f"emulating {emulation_words(args.cpu_isa)}")
        os.environ.update(caps)  # so that the line below says what the capped children pick
    print(f"{cpu_name()}; flags {' '.join(f for f in FLAGS_SHOWN if f in cpu_flags())}; the engine picks "
          f"{pick_precision(torch.device('cpu'))}; {threads} threads; torch {torch.__version__}; preset {args.preset}")
    rows = []
    for name in args.only or OPTIONS:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), **caps, **OPTIONS[name][0],
               "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "tools.fp32_options", "--one", name, "--steps", str(args.steps),
                               "--preset", args.preset], env=env, cwd=REPO, capture_output=True, text=True)
        if done.returncode:
            print(f"{name:50s} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = next((r for r in rows if r["option"] == "engine"), None)
    for row in rows:
        ratio = f"x{row['img_per_s'] / base['img_per_s']:.2f}" if base else ""
        compiled = f", compile {row['compile_s']:.0f} s" if row["compile_s"] else ""
        print(f"{row['option']:50s} {row['img_per_s']:7.0f} img/s {ratio:>6s}  ({row['ms_per_step']:.0f} ms a step of "
              f"{row['batch_size']}, {row['threads']} threads, others' load {row['others_load']:.2f}{compiled})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
