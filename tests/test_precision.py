"""Decoding precision: 'auto' follows the hardware; bf16 decoding stays close to fp32."""

import pytest
import torch

from hinr import HINR, preset
from hinr import precision as prec
from hinr.upscale import render_latents, upscale_image


@pytest.fixture(scope="module")
def model() -> HINR:
    torch.manual_seed(0)
    m = HINR(preset("tiny", residual=True, locality=True, cell_input=True, local_pixels=4)).eval()
    with torch.no_grad():
        m.residual_gate.fill_(1.0)  # the decoder's output counts
    return m


def test_auto_follows_native_bf16(monkeypatch):
    monkeypatch.setattr(prec, "native_bf16", lambda device: True)
    assert prec.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(prec, "native_bf16", lambda device: False)
    assert prec.resolve_precision("auto", "cpu") == "fp32"
    assert prec.resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly
    with pytest.raises(ValueError, match="precision"):
        prec.resolve_precision("fp16", "cpu")


def test_bf16_rendering_is_close_to_fp32_but_really_bf16(model):
    latents = model.encode(torch.rand(2, 3, 32, 32))
    ref = render_latents(model, latents, 40, 56, precision="fp32")
    low = render_latents(model, latents, 40, 56, precision="bf16")
    assert low.dtype == torch.float32 and low.shape == ref.shape
    gap = (low - ref).abs()
    assert 0 < gap.max() < 0.03  # a few grey levels at most, for an untrained decoder
    assert gap.mean() < 3e-3
    assert torch.equal(render_latents(model, latents, 40, 56), ref)  # the library default is fp32


def test_bf16_upscale_of_a_tiled_image(model):
    image = torch.rand(3, 48, 40)
    ref = upscale_image(model, image, (96, 80), precision="fp32")
    low = upscale_image(model, image, (96, 80), precision="bf16")
    assert (low - ref).abs().max() < 0.03 and not torch.equal(low, ref)
