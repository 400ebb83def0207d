"""Decoding precision: fp32, or bf16 autocast where the hardware has native bf16 arithmetic.

Under bf16 only the decoder's matmuls run in bf16: the Fourier features, the bicubic base, the
pixel taps and the locality-biased attention stay fp32 (see their modules), so bf16 renders
score as fp32 does (benchmarks/RESULTS.md has the figures). CPUs without native bf16 emulate it,
which cannot be expected to gain anything, hence ``auto``.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bf16 natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def resolve_precision(name: str, device: torch.device | str) -> str:
    """'auto' | 'fp32' | 'bf16' → 'fp32' or 'bf16' for ``device``."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return name


def autocast(precision: str, device: torch.device | str) -> ContextManager:
    """The autocast context for decoding at ``precision`` ('auto' resolved) on ``device``."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
