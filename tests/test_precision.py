"""Decoding precision: 'auto' follows the hardware; bf16 decoding stays close to fp32."""

import pytest
import torch

from hinr import precision as prec
from hinr.inference.upscale import render_latents, upscale_image


def test_auto_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(prec, "native_bf16", lambda device: True)
    assert prec.resolve_precision("auto", "cpu") == torch.bfloat16
    monkeypatch.setattr(prec, "native_bf16", lambda device: False)
    assert prec.resolve_precision("auto", "cpu") == torch.float32
    assert prec.resolve_precision("bf16", "cpu") == torch.bfloat16  # asked for explicitly
    assert prec.resolve_precision(torch.bfloat16, "cpu") == torch.bfloat16  # resolved stays so
    assert prec.precision_name(torch.bfloat16) == "bf16" and prec.precision_name(torch.float32) == "fp32"
    for bad in ("fp16", torch.float16):
        with pytest.raises(ValueError, match="precision"):
            prec.resolve_precision(bad, "cpu")


def test_bf16_rendering_is_close_to_fp32_but_really_bf16(options_model):
    latents = options_model.encode(torch.rand(2, 3, 32, 32))
    ref = render_latents(options_model, latents, 40, 56, precision="fp32")
    low = render_latents(options_model, latents, 40, 56, precision="bf16")
    assert low.dtype == torch.float32 and low.shape == ref.shape
    gap = (low - ref).abs()
    assert 0 < gap.max() < 0.03  # a few grey levels at most, for an untrained decoder
    assert gap.mean() < 3e-3
    default = render_latents(options_model, latents, 40, 56)
    assert torch.equal(default, ref)  # the library default is fp32


def test_bf16_upscale_of_a_tiled_image(options_model):
    image = torch.rand(3, 48, 40)
    ref = upscale_image(options_model, image, (96, 80), precision="fp32")
    low = upscale_image(options_model, image, (96, 80), precision="bf16")
    assert (low - ref).abs().max() < 0.03 and not torch.equal(low, ref)
