"""``relu(linear(x))`` as one oneDNN call where that is faster: bf16 on the CPU, outside autograd.

A per-pixel MLP spends as long in its in-place ReLUs as in its matmuls on this CPU (bf16
element-wise work goes through fp32), and oneDNN applies the ReLU inside the matmul for free:
2.1× faster per 128→128 layer on the 2-core AMD EPYC (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` itself emits on CPU). Everywhere else — training, fp32, other devices, a
torch without oneDNN — it is the plain ``relu_(layer(x))``, and a test checks that both agree.
"""

from __future__ import annotations

import torch
from torch import nn


def _fused_available() -> bool:
    """oneDNN with the fused op, on a CPU with native bf16 (without it, e.g. an AVX2-only CPU,
    oneDNN has no bf16 inner product and the call fails)."""
    from ..precision import native_bf16

    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and native_bf16("cpu"))


FUSED = _fused_available()


def linear_relu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """x (..., in) → relu(layer(x)) (..., out), in x's dtype under bf16 autocast."""
    if (FUSED and x.dtype == torch.bfloat16 and x.device.type == "cpu" and x.ndim == 2
            and not (torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad))):
        bias = None if layer.bias is None else layer.bias.to(x.dtype)
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight.to(x.dtype), bias, "relu", [None], "")
    return torch.relu_(layer(x))
