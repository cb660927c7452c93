"""The GPU check: train the `fast` preset on CUDA, score it on the 10,000 test images, and the
same on the CPU, for the ratio. Each side runs in its own process through tools.bench's
contender (the engine's training loop, as a run trains).

    scripts/gpu_check.sh                  # all 60,000 images, the preset's epochs, both sides
    scripts/gpu_check.sh --limit 10000    # shorter: the first 10,000 training images

Exits with status 2 and says so when this machine has no CUDA GPU: there is nothing to check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NO_CUDA = 2


def measure(device: str, args: argparse.Namespace, folder: Path) -> dict:
    folder.mkdir()
    out = folder / "figures.json"
    command = [sys.executable, "-m", "tools.bench", "--contender", "fast", "--device", device, "--out", str(out),
               "--threads", str(args.threads), "--epochs", str(args.epochs),
               *(["--infer-images", "1000", "--repeats", "1", "--latency-calls", "5"] if args.quick else
                 ["--infer-images", "10000", "--repeats", "3", "--latency-calls", "50"])]
    if args.limit:
        command += ["--limit", str(args.limit)]
    # As tools.bench does: OMP_NUM_THREADS is how the engine's training picks its thread count.
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    return json.loads(out.read_text())


def report(figures: dict[str, dict]) -> str:
    rows = [
        ("device", lambda f: f["hardware"]),
        ("precision", lambda f: f["precision"]),
        ("training images x epochs", lambda f: f"{f['images']:,} x {f['epochs_run']}"),
        ("training seconds", lambda f: f"{f['train_s']:.1f}"),
        ("training images/s", lambda f: f"{f['train_img_per_s']:,.0f}"),
        ("inference images/s", lambda f: f"{f['infer_img_per_s']:,.0f}"),
        ("test accuracy", lambda f: f"{f['test_acc'] * 100:.2f} % of 10,000"),
    ]
    names = list(figures)
    lines = [f"{'':26s}" + "".join(f"{name:>34s}" for name in names)]
    lines += [f"{label:26s}" + "".join(f"{cell(figures[n]):>34s}" for n in names) for label, cell in rows]
    gpu, cpu = figures[names[0]], figures[names[1]]
    lines.append(f"{names[0]} / {names[1]}: training x{gpu['train_img_per_s'] / cpu['train_img_per_s']:.1f} "
                 f"images/s, inference x{gpu['infer_img_per_s'] / cpu['infer_img_per_s']:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train and score the `fast` preset on CUDA and on the CPU.")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N training images (default all)")
    parser.add_argument("--epochs", type=int, default=0, help="epochs (default: the preset's)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU side (default: all cores)")
    # The device measured against the CPU. Only the tests set it (to cpu), to run the whole
    # check on a machine without a GPU.
    parser.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tests: shorter inference timing
    args = parser.parse_args(argv)

    import torch  # noqa: PLC0415

    if args.gpu_device == "cuda" and not torch.cuda.is_available():
        print("No CUDA GPU here (torch.cuda.is_available() is False; torch "
              f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}): nothing to check. Run this on "
              "a GPU host, with a CUDA build of torch and the NVIDIA driver.", file=sys.stderr)
        return NO_CUDA
    if not args.threads:
        from engine.hardware import cpu_threads  # noqa: PLC0415

        args.threads = cpu_threads()
    with tempfile.TemporaryDirectory() as tmp:
        figures = {"GPU side": measure(args.gpu_device, args, Path(tmp) / "gpu"),
                   "CPU side": measure("cpu", args, Path(tmp) / "cpu")}
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
