"""The fused inference ops (``hinr.layers.fused``) give what the plain layers give, and leave
training on the plain path, with gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import hinr
from hinr.config import preset
from hinr.layers import fused


def plain_geglu(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    value, gate = layer(x).chunk(2, dim=-1)
    return value * F.gelu(gate)


@pytest.mark.parametrize("shape", [(40, 12), (2, 5, 7, 12)])
def test_linear_geglu_matches_the_plain_layers_in_fp32(shape):
    torch.manual_seed(0)
    layer = torch.nn.Linear(12, 2 * 9)
    x = torch.randn(*shape)
    with torch.no_grad():
        got = fused.linear_geglu(x, layer)
        expected = plain_geglu(x, layer)
    assert got.shape == (*shape[:-1], 9) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(expected, layer(x)[..., :9])  # the gate matters: not just the value half


def test_linear_geglu_under_bf16_autocast_returns_bf16_close_to_plain():
    torch.manual_seed(1)
    layer = torch.nn.Linear(16, 2 * 24)
    x = torch.randn(64, 16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = fused.linear_geglu(x, layer)
        expected = plain_geglu(x, layer)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=0, atol=3e-2)


def test_linear_geglu_and_add_gelu_keep_autograd_when_training():
    layer = torch.nn.Linear(6, 8)
    x = torch.randn(5, 6, requires_grad=True)
    fused.linear_geglu(x, layer).square().sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
    other = torch.randn(5, 8, requires_grad=True)
    fused.linear_add_gelu(x, layer.weight, layer.bias, other).sum().backward()
    assert other.grad is not None and other.grad.abs().sum() > 0


def test_linear_add_gelu_matches_plain_and_leaves_its_inputs_alone():
    torch.manual_seed(2)
    x, other = torch.randn(3, 4, 6), torch.randn(3, 4, 10)
    weight, bias = torch.randn(10, 6), torch.randn(10)
    before = other.clone()
    with torch.no_grad():
        got = fused.linear_add_gelu(x, weight, bias, other)
    torch.testing.assert_close(got, F.gelu(x @ weight.t() + bias + other), rtol=0, atol=1e-5)
    assert torch.equal(other, before)  # the GELU runs in place on the sum, not on ``other``


def test_hybrid_v3_decodes_alike_on_the_fused_and_the_training_path():
    """The shipped v3's options at the tiny size: a no-grad decode (fused ops) equals a decode with
    gradients on (the plain ops)."""
    torch.manual_seed(3)
    model = hinr.HINR(preset("tiny", arch="hybrid-v3", patch_size=1, scan_patch=2, lp_sum=True,
                             pixel_kv=True, value_position=6, cell_offsets=True))
    for p in model.parameters():  # a trained model's read-out is not zero
        torch.nn.init.normal_(p, std=0.2) if p.ndim > 1 else None
    images = torch.rand(1, 3, 12, 10)
    coords = torch.rand(1, 50, 2)
    with torch.no_grad():
        fast = model.decode(model.encode(images), coords)
    slow = model.decode(model.encode(images), coords)
    assert slow.requires_grad
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=1e-5)
    assert fast.std() > 1e-3
