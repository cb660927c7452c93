"""Benchmark: the original notebook's CNN against the project's presets, on this machine.

    python -m tools.bench                   # reference (10 epochs), then `fast`
    python -m tools.bench --best            # ... then `best` as well
    python -m tools.bench --quick           # smoke test: 2,000 images, 1 epoch
    python -m tools.bench --budget-seeds 3  # `fast` in 2 minutes three times (seeds 0-2), and the mean
    python -m tools.bench --json bench.json --threads 2

The reference is the notebook's script, ``<repo>/../shared/reference/seed_cnn.py`` (or
``$SEED_CNN_PATH``), run as it stands; where it is absent, the engine's `seed` preset, the same
model and loop, stands in and the output says so. Each contender runs in its own process
with the same environment and thread count, so that its peak resident memory is its own;
the figures are compared within one run, because absolute times depend on the machine and
on whatever else it is doing (the load average is recorded before and after each).

Both train on all 60,000 training images and are scored on the 10,000 test images after
every epoch; `train_s` is time in the training loop only, leaving out that per-epoch test
(as the reference script does) and the engine's checkpoint writes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUICK_LIMIT = 2000


def reference_path() -> Path | None:
    """$SEED_CNN_PATH, else reference/seed_cnn.py in $SHARED_DIR or in the ``shared`` folder
    beside the repository; None if none exists."""
    shared = os.environ.get("SHARED_DIR") or str(REPO.parent / "shared")
    candidates = [os.environ.get("SEED_CNN_PATH", ""), str(Path(shared) / "reference" / "seed_cnn.py")]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set so far (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # noqa: PLC0415 (fallback where /proc is absent)

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


# Ratios mean little when other processes took a different share of the machine during the
# reference than during a contender: past this many busy cores of difference, none is given.
MAX_LOAD_DIFFERENCE = 0.25
SPEED_STEPS = 40  # notebook steps timed for the machine's speed, before and after each contender (~1 s)
# Ratios are also given adjusted for the machine's speed when it moved more than this between
# the reference's run and a contender's.
MAX_SPEED_DRIFT = 0.10
# "Two minutes": the budget the users ask for, trained as its own contender.
DEFAULT_BUDGET_MIN = 2.0
BUDGET_NAME = "fast@budget"
# An older CPU, emulated on a newer one: oneDNN (convolutions, matmuls) and ATen's own kernels
# capped at its instruction set. The cores' speed and caches stay the newer CPU's, so absolute
# times are not that CPU's; ratios within one run are what it reports.
EMULATED_CPUS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}
# The CPU features that decide speed here: bf16 natively (AMX, AVX512-BF16) or fp32 with AVX2/AVX-512.
FLAGS_SHOWN = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def busy_cpu_seconds() -> float | None:
    """CPU time all processes have used since boot (user, nice, system, irq, softirq, steal)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OthersLoad:
    """How many cores other processes kept busy, on average, while this one ran: the machine's
    busy time less this process's own CPU time, over the wall time."""

    def __init__(self) -> None:
        self.busy, self.own, self.wall = busy_cpu_seconds(), self._own(), time.perf_counter()

    @staticmethod
    def _own() -> float:
        times = os.times()
        return times.user + times.system

    def cores(self) -> float | None:
        busy = busy_cpu_seconds()
        if busy is None or self.busy is None:
            return None
        wall = time.perf_counter() - self.wall
        return max(0.0, (busy - self.busy) - (self._own() - self.own)) / wall if wall > 0 else None


def emulation_words(isa: str | None) -> str | None:
    if not isa:
        return None
    caps = " ".join(f"{k}={v}" for k, v in EMULATED_CPUS[isa].items())
    return f"an {isa.upper()}-only CPU: {caps}"


def load_average() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def time_inference(predict: Callable[[int, int], Any], n_images: int, *, repeats: int, latency_calls: int
                   ) -> tuple[float, float]:
    """(images per second in calls of 1,000 images, median single-image latency in ms).

    One warm-up pass over all the images first (oneDNN builds its kernels on the first calls
    of each shape, which took several passes' time on the 2-core EPYC); then the fastest of
    `repeats` passes counts, since on a shared machine the slower passes measure the neighbours."""
    import torch  # noqa: PLC0415

    with torch.no_grad():
        for start in range(0, n_images, 1000):
            predict(start, min(start + 1000, n_images))
        predict(0, 1)
        best = math.inf
        for _ in range(repeats):
            started = time.perf_counter()
            for start in range(0, n_images, 1000):
                predict(start, min(start + 1000, n_images))
            best = min(best, time.perf_counter() - started)
        latencies = []
        for i in range(latency_calls + 1):
            started = time.perf_counter()
            predict(i, i + 1)
            latencies.append(time.perf_counter() - started)
    return n_images / best, statistics.median(latencies[1:]) * 1000


# --- one contender, in its own process ----------------------------------------------------


def run_reference_script(path: Path, args: argparse.Namespace) -> dict:
    """Run the notebook's script as it stands, keeping a handle on the model it trains (to
    time its inference the notebook's way: fp32, NCHW, 1,000 images a call)."""
    import torch  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("seed_cnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    models: list[torch.nn.Module] = []
    limit = args.limit or 60_000
    bar = tqdm(total=args.epochs * limit, desc="reference", unit="img", unit_scale=True, leave=True)

    class RecordedSeedCNN(module.SeedCNN):
        """The script's own model, noticed when built and counted as it trains."""

        def __init__(self) -> None:
            super().__init__()
            models.append(self)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                bar.update(len(x))
            return super().forward(x)

    module.SeedCNN = RecordedSeedCNN
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reference.json"
        argv = ["seed_cnn.py", "--epochs", str(args.epochs), "--threads", str(args.threads), "--json", str(out)]
        if args.limit:
            argv += ["--limit", str(args.limit)]
        saved_argv, sys.argv = sys.argv, argv
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                module.main()
        finally:
            sys.argv = saved_argv
        script = json.loads(out.read_text())
    bar.close()
    rss = peak_rss_mb()

    model = models[-1].eval()
    x_test, _ = module.load("t10k")
    n_infer = min(args.infer_images, len(x_test))
    infer, latency = time_inference(lambda a, b: model(x_test[a:b]), n_infer,
                                    repeats=args.repeats, latency_calls=args.latency_calls)
    seconds = 0.0
    epochs = []
    for e in script["epochs"]:
        seconds += e["seconds"]
        epochs.append({"epoch": e["epoch"], "train_s": seconds, "test_acc": e["test_acc"]})
    return {
        "source": str(path), "device": "cpu", "precision": "fp32", "channels_last": False,
        "batch_size": 64, "tta_flip": False, "images": limit, "epochs_run": args.epochs,
        "test_acc": script["test_acc"], "train_s": script["train_s"],
        "train_img_per_s": script["train_img_per_s"], "infer_img_per_s": infer, "latency_ms": latency,
        "peak_rss_mb": rss, "epochs": epochs, "threads": torch.get_num_threads(),
    }


def run_preset(preset: str, args: argparse.Namespace, budget_s: float | None = None, seed: int = 0) -> dict:
    """Train a preset with the engine, as a run would, on the same data as the reference;
    with `budget_s`, to that time budget instead of its own length."""
    import torch  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from dataset.fashion_mnist import load_split  # noqa: PLC0415
    from engine import training  # noqa: PLC0415
    from engine.checkpoints import load_checkpoint  # noqa: PLC0415
    from engine.config import TrainConfig  # noqa: PLC0415
    from engine.hardware import pick_device, uses_channels_last  # noqa: PLC0415
    from engine.inference import evaluate, predict_logits  # noqa: PLC0415
    from engine.results import EpochResult, Progress  # noqa: PLC0415

    epochs = args.epochs if args.epochs and budget_s is None else None
    config = TrainConfig.for_preset(preset, epochs=epochs, budget_s=budget_s, device=args.device, seed=seed)
    train, test = load_split("train"), load_split("test")
    # Validated after every epoch on the test images it is scored on; the quick mode on the
    # first of them, as many as it times inference on (a budget run there has many short epochs).
    n_val = len(test) if not args.quick else min(args.infer_images, len(test))
    limit = args.limit or len(train)
    clock = {"mark": 0.0, "train_s": 0.0, "started": False}
    epochs_seen: list[dict] = []
    bar = tqdm(desc=preset, unit="batch", leave=True)  # its total is known at the first batch

    def on_plan(plan) -> None:
        # The clock starts at the first step, as the reference's does after it loaded its data;
        # the speed probe a budget needs counts as training time. A re-plan (after an epoch's
        # steps, before its validation) leaves the clock alone.
        if not clock["started"]:
            clock.update(started=True, train_s=plan.probe_s, mark=time.perf_counter())

    def on_progress(progress: Progress) -> None:
        if bar.total != progress.steps:  # known at the first batch; a budgeted run may re-plan
            bar.total = progress.steps
        bar.update(1)
        if progress.batch == progress.batches:  # the epoch's training is done; its test is not
            clock["train_s"] += time.perf_counter() - clock["mark"]

    def on_epoch(result: EpochResult, saved: training.SavedCheckpoint) -> None:
        epochs_seen.append({"epoch": result.epoch, "train_s": clock["train_s"], "test_acc": result.val_acc})
        bar.set_postfix(test_acc=f"{result.val_acc:.4f}")
        clock["mark"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        result = training.train(
            config, train_images=train.images[:limit], train_labels=train.labels[:limit],
            val_images=test.images[:n_val], val_labels=test.labels[:n_val], checkpoint_dir=Path(tmp),
            on_plan=on_plan, on_progress=on_progress, on_epoch=on_epoch,
        )
        bar.close()
        rss = peak_rss_mb()
        device = pick_device(config.device)
        model, payload = load_checkpoint(Path(tmp) / f"epoch-{result.plan.epochs:03d}.pt", device)
    recipe = config.recipe
    inference = recipe.inference
    x_test = torch.from_numpy(test.images.copy()).to(device)
    y_test = torch.from_numpy(test.labels.copy()).to(device)
    _, test_acc = evaluate(model, x_test[:n_val], y_test[:n_val], inference, precision=result.precision)

    def predict(a: int, b: int) -> torch.Tensor:
        logits = predict_logits(model, x_test[a:b], inference, batch_size=1000, precision=result.precision)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return logits

    infer, latency = time_inference(predict, min(args.infer_images, len(x_test)),
                                    repeats=args.repeats, latency_calls=args.latency_calls)
    return {
        "source": f"engine preset {preset!r}", "device": result.device, "hardware": result.hardware,
        "precision": result.precision, "channels_last": uses_channels_last(device),
        "batch_size": config.batch_size, "tta_flip": recipe.tta_flip, "images": limit,
        "epochs_run": result.plan.epochs, "test_acc": test_acc, "train_s": clock["train_s"],
        "train_img_per_s": result.plan.total_steps * config.batch_size / clock["train_s"], "infer_img_per_s": infer,
        "plan": result.plan.to_dict(),
        "latency_ms": latency, "peak_rss_mb": rss, "epochs": epochs_seen, "threads": torch.get_num_threads(),
    }


def machine_speed() -> float:
    """The notebook's 10 epochs as this machine's CPU runs its steps right now, in seconds: taken
    before and after every contender, because a shared VM's speed drifts by a fifth or more
    over minutes, which the load average doesn't see (it is the host's, not this VM's)."""
    import torch  # noqa: PLC0415

    from dataset.fashion_mnist import load_split  # noqa: PLC0415
    from engine.budget import NOTEBOOK_PROBE_BATCHES, notebook_seconds  # noqa: PLC0415

    train, n = load_split("train"), 64 * NOTEBOOK_PROBE_BATCHES  # the images the probe steps through
    return notebook_seconds(torch.from_numpy(train.images[:n].copy()), torch.from_numpy(train.labels[:n].copy()),
                            steps=SPEED_STEPS)


def seed_runs(first: dict, args: argparse.Namespace) -> list[dict]:
    """The budget run again with seeds 1, 2, ...: one run of it is within about ±0.2 points of
    its mean on 10,000 test images, as much as a target and a result often differ by. The
    same seed differs a little between runs too: its number of steps follows the speed measured."""
    runs = [first] + [run_preset(args.contender, args, budget_s=args.budget_s, seed=seed)
                      for seed in range(1, args.budget_seeds)]
    return [{"seed": seed, "test_acc": run["test_acc"], "epochs_run": run["epochs_run"], "train_s": run["train_s"],
             "steps": run["plan"]["total_steps"]} for seed, run in enumerate(runs)]


def run_contender(args: argparse.Namespace) -> None:
    speed_before = machine_speed()
    started, load_before, others = time.perf_counter(), load_average(), OthersLoad()
    if args.contender == "reference":
        path = reference_path()
        if path is not None:
            figures = run_reference_script(path, args)
        else:
            figures = run_preset("seed", args)
            figures["source"] = ("engine preset 'seed' (the reference script was not found at "
                                 "../shared/reference/seed_cnn.py or $SEED_CNN_PATH; same model and loop)")
    else:
        from engine.budget import BudgetTooSmall  # noqa: PLC0415

        try:
            figures = run_preset(args.contender, args, budget_s=args.budget_s)
            if args.budget_s and args.budget_seeds > 1:
                figures["seeds"] = seed_runs(figures, args)
        except BudgetTooSmall as exc:  # a busy or slow machine: said in the report, the rest still runs
            figures = {"refused": str(exc)}
    figures["wall_s"] = time.perf_counter() - started
    figures["load_before"], figures["load_after"] = load_before, load_average()
    figures["others_load"] = others.cores()
    figures["machine_speed_s"] = [speed_before, machine_speed()]
    Path(args.out).write_text(json.dumps(figures, indent=1))


# --- the whole benchmark --------------------------------------------------------------------


def accuracy_at(epochs: list[dict], seconds: float) -> dict:
    """The test accuracy of the last epoch finished within `seconds` of training."""
    done = [e for e in epochs if e["train_s"] <= seconds * 1.0001]
    if not done:
        return {"test_acc": None, "epoch": 0, "train_s": 0.0}
    last = done[-1]
    return {"test_acc": last["test_acc"], "epoch": last["epoch"], "train_s": last["train_s"]}


def load_refusal(reference: dict, contender: dict, name: str) -> str | None:
    """Why no ratio can be given between these two runs, or None."""
    theirs, ours = reference.get("others_load"), contender.get("others_load")
    if theirs is None or ours is None:
        return None
    if abs(ours - theirs) > MAX_LOAD_DIFFERENCE:
        return (f"no ratio: other processes kept {ours:.2f} cores busy during `{name}` but {theirs:.2f} during the "
                f"reference (more than {MAX_LOAD_DIFFERENCE} apart); rerun on a quiet machine")
    return None


def speed_drift(reference: dict, contender: dict) -> float | None:
    """How much slower the machine ran the notebook's steps around the contender than around
    the reference: 1.2 means 20 % slower, so the contender's times are 20 % too long."""
    theirs, ours = reference.get("machine_speed_s"), contender.get("machine_speed_s")
    if not theirs or not ours:
        return None
    return statistics.mean(ours) / statistics.mean(theirs)


def compare(results: dict[str, dict]) -> dict:
    ref = results["reference"]
    comparison = {}
    for name in [n for n in results if n != "reference"]:
        ours = results[name]
        refusal = load_refusal(ref, ours, name)
        if refusal:
            comparison[name] = {"refused": refusal, "acc_gain_pts": (ours["test_acc"] - ref["test_acc"]) * 100}
            continue
        comparison[name] = {
            "acc_gain_pts": (ours["test_acc"] - ref["test_acc"]) * 100,
            "acc_at_reference_train_s": accuracy_at(ours["epochs"], ref["train_s"]),
            "train_s_ratio": ours["train_s"] / ref["train_s"],
            "train_img_per_s_ratio": ours["train_img_per_s"] / ref["train_img_per_s"],
            "infer_img_per_s_ratio": ours["infer_img_per_s"] / ref["infer_img_per_s"],
            "latency_ratio": ours["latency_ms"] / ref["latency_ms"],
            "peak_rss_ratio": ours["peak_rss_mb"] / ref["peak_rss_mb"],
        }
        drift = speed_drift(ref, ours)
        comparison[name]["speed_drift"] = drift
        if drift is not None and abs(drift - 1) > MAX_SPEED_DRIFT:
            comparison[name]["train_s_ratio_adjusted"] = comparison[name]["train_s_ratio"] / drift
            comparison[name]["infer_img_per_s_ratio_adjusted"] = comparison[name]["infer_img_per_s_ratio"] * drift
    return comparison


def seeds_line(name: str, seeds: list[dict]) -> str:
    accs = [run["test_acc"] * 100 for run in seeds]
    each = ", ".join(f"{acc:.2f}" for acc in accs)
    return (f"{name} with seeds 0-{len(seeds) - 1}: {each} %; mean {statistics.mean(accs):.2f} %, "
            f"{min(accs):.2f}-{max(accs):.2f} % (the table shows seed 0)")


def report(bench: dict) -> str:
    names = [n for n in ("reference", "fast", BUDGET_NAME, "best") if n in bench]
    m = bench["machine"]
    cap = f" (emulating {m['emulated']})" if m.get("emulated") else ""
    lines = [f"Fashion-MNIST benchmark ({bench['mode']}): {m['cpu']}{cap}, {m['cores']} cores, "
             f"{bench['threads']} threads, torch {m['torch']}",
             f"CPU flags: {' '.join(m.get('cpu_flags', [])) or 'unknown'}; the engine picks {m.get('cpu_precision')} "
             "on this CPU",
             f"reference: {bench['reference']['source']}"]
    if BUDGET_NAME in bench:
        lines.append(f"{BUDGET_NAME}: `fast` to a budget of {bench['budget_min']:g} min of training")
    header = f"{'':28s}" + "".join(f"{n:>14s}" for n in names)
    rows = [
        ("test accuracy (%)", lambda r: f"{r['test_acc'] * 100:.2f}"),
        ("epochs", lambda r: f"{r['epochs_run']}"),
        ("train time (s)", lambda r: f"{r['train_s']:.1f}"),
        ("train img/s", lambda r: f"{r['train_img_per_s']:.0f}"),
        ("infer img/s (calls of 1000)", lambda r: f"{r['infer_img_per_s']:.0f}"),
        ("latency, 1 image (ms)", lambda r: f"{r['latency_ms']:.2f}"),
        ("peak RSS, training (MiB)", lambda r: f"{r['peak_rss_mb']:.0f}"),
        ("device / precision", lambda r: f"{r['device']}/{r['precision']}"),
        ("flip TTA", lambda r: "yes" if r["tta_flip"] else "no"),
        ("load avg before/after", lambda r: f"{r['load_before']}/{r['load_after']}"),
        ("others' load (cores)", lambda r: "?" if r.get("others_load") is None else f"{r['others_load']:.2f}"),
        ("machine: notebook (s) b/a", lambda r: "/".join(f"{v:.0f}" for v in r.get("machine_speed_s", [])) or "?"),
    ]
    lines.append(header)
    for label, cell in rows:
        lines.append(f"{label:28s}" + "".join(f"{cell(bench[n]):>14s}" for n in names))
    for name, why in bench.get("refused", {}).items():
        lines.append(f"{name}: not trained: {why}")
    for name in names:
        if "seeds" in bench[name]:
            lines.append(seeds_line(name, bench[name]["seeds"]))
    ref_s = bench["reference"]["train_s"]
    for name, c in bench["comparison"].items():
        if "refused" in c:
            lines.append(f"{name} vs reference: {c['acc_gain_pts']:+.2f} pts; {c['refused']}")
            continue
        at = c["acc_at_reference_train_s"]
        at_text = (f"{at['test_acc'] * 100:.2f} % (epoch {at['epoch']} of {bench[name]['epochs_run']}, "
                   f"done at {at['train_s']:.0f} s)" if at["test_acc"] is not None else "no epoch finished")
        lines.append(
            f"{name} vs reference: {c['acc_gain_pts']:+.2f} pts; training time x{c['train_s_ratio']:.2f}; "
            f"at the reference's {ref_s:.0f} s: {at_text}; train img/s x{c['train_img_per_s_ratio']:.2f}, "
            f"infer img/s x{c['infer_img_per_s_ratio']:.2f}, latency x{c['latency_ratio']:.2f}, "
            f"peak RSS x{c['peak_rss_ratio']:.2f}"
        )
        if "train_s_ratio_adjusted" in c:
            lines.append(
                f"  the machine ran the notebook's steps {abs(c['speed_drift'] - 1) * 100:.0f} % "
                f"{'slower' if c['speed_drift'] > 1 else 'faster'} around `{name}` than around the reference "
                f"(more than {MAX_SPEED_DRIFT:.0%}): at equal machine speed, training time "
                f"x{c['train_s_ratio_adjusted']:.2f}, infer img/s x{c['infer_img_per_s_ratio_adjusted']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the reference notebook CNN against the project's presets.")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_LIMIT} images, 1 epoch")
    parser.add_argument("--best", action="store_true", help="also train the `best` preset (long on a CPU)")
    parser.add_argument("--json", help="write all figures to this file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for every contender "
                        "(default: as a training run picks, $OMP_NUM_THREADS or all usable cores)")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N training images")
    parser.add_argument("--epochs", type=int, default=0,
                        help="epochs for every contender (default: reference 10, presets their own)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="for the project's presets; the reference script runs on the CPU")
    parser.add_argument("--budget", type=float, default=None, metavar="MINUTES",
                        help=f"also train `fast` to this time budget, as `{BUDGET_NAME}` (default: "
                        f"{DEFAULT_BUDGET_MIN:g}; 0: not; the quick mode: not unless given)")
    parser.add_argument("--budget-seeds", type=int, default=1, metavar="N",
                        help=f"train `{BUDGET_NAME}` N times, seeds 0 to N-1, and report each and their mean "
                        "(one run is within about 0.2 pts of its mean)")
    parser.add_argument("--cpu-isa", choices=sorted(EMULATED_CPUS), help="run every contender as on a CPU "
                        "with only this instruction set (oneDNN and ATen capped; bf16 off): an AVX2-only "
                        "CPU measured on a newer one")
    parser.add_argument("--contender", help=argparse.SUPPRESS)  # internal: one contender, in a child
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--budget-s", type=float, help=argparse.SUPPRESS)  # internal: the child's budget
    parser.add_argument("--infer-images", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--latency-calls", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.budget_seeds < 1:
        parser.error("--budget-seeds must be at least 1")
    if args.contender:
        run_contender(args)
        return 0

    import torch  # noqa: PLC0415 (after the children's branch: they import it themselves)

    from engine.hardware import cpu_flags, cpu_name, cpu_threads, pick_precision  # noqa: PLC0415

    threads = args.threads or cpu_threads()
    if args.budget is None:
        args.budget = 0.0 if args.quick else DEFAULT_BUDGET_MIN
    if args.quick:
        args.limit = args.limit or QUICK_LIMIT
        args.epochs = args.epochs or 1
        args.infer_images, args.repeats, args.latency_calls = 2000, 1, 20
    # Same environment for every contender; OMP_NUM_THREADS is how the engine's training
    # picks its thread count, and the reference script is given the same number.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
    if args.cpu_isa:
        env.update(EMULATED_CPUS[args.cpu_isa])
    contenders = ["reference", "fast"] + ([BUDGET_NAME] if args.budget else []) + (["best"] if args.best else [])

    bench: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "threads": threads,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "cpu_flags": [flag for flag in FLAGS_SHOWN if flag in cpu_flags()],
                    "cpu_precision": "fp32" if args.cpu_isa else pick_precision(torch.device("cpu")),
                    "emulated": emulation_words(args.cpu_isa),
                    "python": platform.python_version(), "torch": str(torch.__version__),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
    }
    if args.budget:
        bench["budget_min"] = args.budget
    with tempfile.TemporaryDirectory() as tmp:
        for name in contenders:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, "-m", "tools.bench", "--contender", "fast" if name == BUDGET_NAME else name,
                       "--out", str(out),
                       "--threads", str(threads), "--device", args.device,
                       "--infer-images", str(args.infer_images), "--repeats", str(args.repeats),
                       "--latency-calls", str(args.latency_calls)]
            reference_epochs = args.epochs or 10
            command += ["--epochs", str(reference_epochs if name == "reference" else args.epochs)]
            if args.limit:
                command += ["--limit", str(args.limit)]
            if args.quick:
                command += ["--quick"]
            if name == BUDGET_NAME:
                command += ["--budget-s", str(args.budget * 60), "--budget-seeds", str(args.budget_seeds)]
            subprocess.run(command, env=env, cwd=REPO, check=True)
            bench[name] = json.loads(out.read_text())
            if args.json:  # kept as it goes: a long benchmark that stops half-way keeps what it measured
                Path(args.json).write_text(json.dumps(bench, indent=1))
    refused = {n: bench.pop(n)["refused"] for n in contenders if "refused" in bench[n]}
    contenders = [n for n in contenders if n not in refused]
    bench["refused"] = refused
    bench["comparison"] = compare({n: bench[n] for n in contenders})
    print(report(bench))
    if args.json:
        Path(args.json).write_text(json.dumps(bench, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
