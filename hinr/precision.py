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


def resolve_precision(precision: str | torch.dtype, device: torch.device | str) -> torch.dtype:
    """The one resolution of a precision: 'auto' | 'fp32' | 'bf16' → torch.float32 or
    torch.bfloat16 for ``device`` ('auto': bf16 where native). Done once at the edge (the CLI,
    the trainer, a library entry point such as ``upscale_image``); an already resolved dtype comes
    back as it is, so whatever it is passed to does not resolve it again."""
    if isinstance(precision, torch.dtype):
        if precision not in (torch.float32, torch.bfloat16):
            raise ValueError(f"precision must be float32 or bfloat16, not {precision}")
        return precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


def precision_name(dtype: torch.dtype) -> str:
    """torch.float32 → 'fp32', torch.bfloat16 → 'bf16' (for reports and messages)."""
    return "bf16" if dtype == torch.bfloat16 else "fp32"


def autocast(dtype: torch.dtype, device: torch.device | str) -> ContextManager:
    """The autocast context for computing at ``dtype`` (from ``resolve_precision``) on ``device``:
    bf16 autocast, or nothing for fp32."""
    if dtype == torch.bfloat16:
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()
