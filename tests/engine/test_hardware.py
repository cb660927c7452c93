"""What precision a CPU run picks: native bf16 only where the CPU has it and oneDNN may use it."""

from __future__ import annotations

import pytest

from engine import hardware

BF16_CPU = {"avx2", "fma", "avx512f", "avx512_bf16"}
AVX2_CPU = {"avx2", "fma"}


@pytest.fixture
def no_cap(monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)


@pytest.mark.parametrize(("flags", "cap", "expected"), [
    (BF16_CPU, None, True),
    (AVX2_CPU, None, False),
    (BF16_CPU, "AVX2", False),  # an AVX2-only CPU emulated on a bf16 one
    (BF16_CPU, "avx512_core", False),  # AVX-512 without bf16: fp32 is faster than emulated bf16
    (BF16_CPU, "AVX512_CORE_BF16", True),
    (BF16_CPU, "ALL", True),
    (AVX2_CPU, "ALL", False),  # a cap never adds what the CPU lacks
])
def test_bf16_only_where_the_cpu_has_it_and_onednn_is_not_capped_below_it(monkeypatch, no_cap, flags, cap, expected):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)

    assert hardware.cpu_has_fast_bf16() is expected
    import torch

    assert hardware.pick_precision(torch.device("cpu")) == ("bf16" if expected else "fp32")


def test_the_older_name_of_the_cap_counts_too(monkeypatch, no_cap):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: BF16_CPU)
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "avx2")

    assert hardware.cpu_isa_cap() == "AVX2" and hardware.cpu_has_fast_bf16() is False
