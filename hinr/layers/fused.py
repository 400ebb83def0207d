"""``relu(linear(x))`` and GEGLU's ``value · gelu(gate)`` as oneDNN calls where that is faster: on the
CPU, outside autograd.

A per-pixel MLP spends as long in its in-place ReLUs as in its matmuls on this CPU (bf16
element-wise work goes through fp32), and oneDNN applies the ReLU inside the matmul for free:
2.1× faster per 128→128 layer on the 2-core AMD EPYC (``torch.ops.mkldnn._linear_pointwise``, the
kernel ``torch.compile`` itself emits on CPU). A GEGLU feed-forward's first layer is two such calls,
the gate's matmul with its GELU, then the value's with the product by the gate: 3× faster than
linear → chunk → gelu → multiply on (15,360 × 48 → 2 × 96) rows, in fp32 and in bf16 (2-core AMD
EPYC), as the whole of that element-wise work never goes out to memory; with oneDNN, MKL and ATen
held to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, as on a CPU without AVX-512) still 1.3–1.4× in fp32.
Everywhere else (training, other devices, a torch without oneDNN, and the ReLU in fp32) it is the
plain layer and activation, and tests check that both agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# oneDNN with the fused op; fp32 inner products need nothing more (used for GEGLU, where fusing
# saves the most)
FUSED_FP32 = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _fused_available() -> bool:
    """The fused op in bf16: a CPU with native bf16 as well (without it, e.g. an AVX2-only CPU,
    oneDNN has no bf16 inner product and the call fails)."""
    from ..precision import native_bf16

    return FUSED_FP32 and native_bf16("cpu")


FUSED = _fused_available()


def _fusable(dtype: torch.dtype, *tensors: torch.Tensor, fp32: bool) -> bool:
    """Whether to run an op on ``tensors`` through oneDNN in ``dtype``: CPU tensors outside
    autograd, bf16 on a CPU with native bf16 (and fp32 where ``fp32``)."""
    kinds = ((torch.bfloat16,) if FUSED else ()) + ((torch.float32,) if fp32 and FUSED_FP32 else ())
    return (dtype in kinds and all(t.device.type == "cpu" for t in tensors)
            and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)))


def linear_relu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """x (..., in) → relu(layer(x)) (..., out), in x's dtype under bf16 autocast."""
    if x.ndim == 2 and layer.bias is not None and _fusable(x.dtype, x, layer.weight, fp32=False):
        return torch.ops.mkldnn._linear_pointwise(x, layer.weight.to(x.dtype), layer.bias.to(x.dtype),
                                                  "relu", [None], "")
    return torch.relu_(layer(x))


def linear_geglu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """x (..., in) → GEGLU of layer(x) (..., out / 2): value · gelu(gate), the value the first half of
    layer's outputs and the gate the second (``hinr.layers.feedforward.GEGLU``), in the dtype
    layer(x) would have (under CPU autocast, its dtype)."""
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    if layer.bias is not None and _fusable(dtype, x, layer.weight, fp32=True):
        hidden = layer.out_features // 2
        weight, bias = layer.weight.to(dtype), layer.bias.to(dtype)
        rows = x.reshape(-1, x.shape[-1]).to(dtype)
        gate = torch.ops.mkldnn._linear_pointwise(rows, weight[hidden:], bias[hidden:], "gelu", [None], "none")
        out = torch.ops.mkldnn._linear_pointwise.binary(rows, gate, weight[:hidden], bias[:hidden], "mul")
        return out.view(*x.shape[:-1], hidden)
    return geglu(layer(x))


def linear_add_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    other: torch.Tensor) -> torch.Tensor:
    """gelu(x @ weightᵀ + bias + other): x (..., in), weight (out, in), bias (out,), other (..., out)
    → (..., out), in fp32. Outside autograd on the CPU the sum is one oneDNN call (the matmul adds
    ``other`` as it writes) and the GELU runs in place: no (..., out) temporaries."""
    if x.dtype == other.dtype == torch.float32 and _fusable(torch.float32, x, weight, bias, other, fp32=True):
        rows = torch.ops.mkldnn._linear_pointwise.binary(
            x.reshape(-1, x.shape[-1]), other.reshape(-1, other.shape[-1]), weight, bias, "add")
        return torch.ops.aten.gelu_(rows).view(other.shape)
    return F.gelu(F.linear(x, weight, bias) + other)


def geglu(h: torch.Tensor) -> torch.Tensor:
    """h (..., 2n) → value · gelu(gate) (..., n): the value its first half, the gate its second."""
    value, gate = h.chunk(2, dim=-1)
    return value * F.gelu(gate)
