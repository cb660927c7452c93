"""Which device, precision, memory layout and thread count a run uses, decided once per run.

Apart from the model and the loop because these are facts about the machine. Run
``python -m engine.hardware`` on a new machine to see what it picks and to time
``channels_last`` against the default layout there.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch


class DeviceUnavailable(RuntimeError):
    pass


def pick_device(requested: str = "auto") -> torch.device:
    """Chosen once per run and passed down; 'cuda' on a machine without it is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device 'cuda' was asked for, but this worker has no CUDA GPU")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# oneDNN's instruction-set cap (ONEDNN_MAX_CPU_ISA, or its older name DNNL_MAX_CPU_ISA): a cap
# below these leaves oneDNN without native bf16 even where the CPU has it. The benchmark sets
# the cap (with ATEN_CPU_CAPABILITY) to measure an AVX2-only CPU on a newer one.
BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512",
             "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT")


def cpu_isa_cap() -> str | None:
    """The instruction-set cap oneDNN runs under, upper-cased; None when there is none."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return cap.strip().upper() if cap and cap.strip() else None


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 arithmetic (AMX, AVX512-BF16); on AVX2-only
    CPUs (such as some AMD EPYCs) oneDNN emulates it and it is slower than fp32. The same
    holds where oneDNN is capped below bf16."""
    cap = cpu_isa_cap()
    if cap is not None and cap not in BF16_ISAS:
        return False
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def pick_precision(device: torch.device) -> str:
    """'bf16' (autocast) where the hardware does it natively, else 'fp32'. Recorded on the run."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def uses_channels_last(device: torch.device) -> bool:
    """NHWC suits GPU tensor cores; on CPU oneDNN's convolutions prefer it as well. Measured
    on a 2-core AVX2 EPYC (Zen 3), training the fast model: 1.2-1.5x the images per second of
    NCHW; the notebook's model: 1.6x. `python -m engine.hardware` re-measures on other CPUs."""
    return True


def cpu_threads() -> int:
    """Threads for torch on CPU: $OMP_NUM_THREADS when set (a worker running several processes
    sets it to share the cores), else every core this process may run on, cgroup and taskset
    limits included. More threads than cores only adds waiting."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def configure_threads(device: torch.device, threads: int | None = None) -> int:
    """Set torch's intra-op thread count for a CPU run; returns the count in use."""
    if device.type == "cpu":
        torch.set_num_threads(threads or cpu_threads())
    return torch.get_num_threads()


def torch_version() -> str:
    return str(torch.__version__)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    cap = cpu_isa_cap()
    capped = f", capped at {cap}" if cap else ""
    return f"cpu ({cpu_name()}{capped}, {torch.get_num_threads()} threads)"


def _time_layout(model: torch.nn.Module, device: torch.device, channels_last: bool, seconds: float) -> float:
    """Training images per second of `model` on random data in one memory layout."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(256, 1, 28, 28, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (256,), device=device)
    images, started = 0, None
    while True:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if started is None:  # the first step pays for kernel selection
            started = time.perf_counter()
            continue
        images += len(x)
        if time.perf_counter() - started > seconds:
            return images / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    from engine.config import PRESETS  # noqa: PLC0415 (the probe only)
    from engine.model import build_preset_model  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Show what this machine's runs will use.")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seconds", type=float, default=3.0, help="per layout and model")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    threads = configure_threads(device)
    print(f"device     {describe_hardware(device)}")
    print(f"precision  {pick_precision(device)}")
    print(f"threads    {threads}")
    print(f"channels_last chosen: {uses_channels_last(device)}")
    for name in ("seed", "fast"):
        preset = PRESETS[name]
        # Alternate the layouts and keep each one's best, so a busy neighbour skews both alike.
        rates = {False: 0.0, True: 0.0}
        for _ in range(3):
            for cl in rates:
                model = build_preset_model(preset)
                rates[cl] = max(rates[cl], _time_layout(model, device, cl, args.seconds / 3))
        print(f"  {name:5s} training img/s: NCHW {rates[False]:7.0f}   channels_last {rates[True]:7.0f}"
              f"   ({rates[True] / rates[False]:.2f}x)")


if __name__ == "__main__":
    main()
