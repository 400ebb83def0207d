"""Whole-image encoding for fully convolutional models (``ModelConfig.whole_image``): the whole
input encoded at once, or in cores with a halo of the receptive radius, gives the same picture;
tiles stay for the fixed-size encoders."""

from __future__ import annotations

import pytest
import torch

import hinr.inference.upscale as upscale_module
from hinr import HINR, load_model, preset
from hinr.inference.upscale import _cores, upscale_image


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4 + 1, w // 4 + 1, generator=g),
                                             size=(h, w), mode="bilinear", align_corners=False)[0]
    return (smooth + 0.05 * torch.rand(3, h, w, generator=g)).clamp(0, 1)


def test_cores_cover_every_output_pixel_once():
    for length, out, tile in [(85, 340, 40), (100, 37, 30), (33, 33, 768), (270, 1080, 100)]:
        spans = _cores(length, out, tile=tile, halo=5)
        covered = [j for j0, j1, _, _ in spans for j in range(j0, j1)]
        assert covered == list(range(out))
        for j0, j1, p0, p1 in spans:  # each pixel's centre lies inside its encoded span
            for j in (j0, j1 - 1):
                assert p0 <= (j + 0.5) * length / out < p1


def test_cored_equals_whole(monkeypatch):
    torch.manual_seed(0)
    model = HINR(preset("tiny", arch="liif", base_skip=True)).eval()
    image = _image(70, 90)
    whole = upscale_image(model, image, (150, 200))
    monkeypatch.setattr(upscale_module, "WHOLE_TILE", 24)  # 3 × 4 cores with halos
    cored = upscale_image(model, image, (150, 200))
    assert (whole - cored).abs().max() < 1e-4


def test_shipped_default_whole_matches_tiles():
    model = load_model("default")
    image = _image(64, 96, seed=1)
    whole = upscale_image(model, image, (128, 192))
    tiled = upscale_image(model, image, (128, 192), whole=False)
    assert whole.shape == tiled.shape == (3, 128, 192)
    psnr = -10 * torch.log10((whole - tiled).pow(2).mean())
    assert psnr > 45  # the same picture; tiles differ only where their blends and borders meet


def test_fixed_size_encoders_keep_tiles():
    model = HINR(preset("tiny")).eval()  # the hybrid reads 32×32 only
    assert not model.config.whole_image
    with pytest.raises(ValueError, match="encode takes"):
        model.encode(torch.rand(1, 3, 40, 40))
    with pytest.raises(ValueError, match="32-px tiles only"):
        upscale_image(model, _image(40, 40), (80, 80), whole=True)
    assert upscale_image(model, _image(40, 40), (80, 80)).shape == (3, 80, 80)


def test_precision_sets_the_whole_image_encoder_and_not_the_tiles():
    """bf16 runs the convolutional encoder of the whole-image path in bf16 (fp32 stays fp32), the
    picture staying that of fp32; the tiles' encoders (the Mamba scan) stay fp32 either way."""
    seen = []

    def record(module, inputs, output):
        seen.append(output.dtype)

    torch.manual_seed(0)
    conv = HINR(preset("tiny", arch="liif")).eval()
    conv.encoder.register_forward_hook(record)
    image = _image(48, 40)
    fp32 = upscale_image(conv, image, (96, 80), precision="fp32")
    bf16 = upscale_image(conv, image, (96, 80), precision="bf16")
    assert seen == [torch.float32, torch.bfloat16]
    assert (fp32 - bf16).abs().mean() < 2e-3
    seen.clear()
    tiles = HINR(preset("tiny")).eval()
    tiles.encoder.register_forward_hook(record)
    upscale_image(tiles, image, (96, 80), precision="bf16")
    assert seen and set(seen) == {torch.float32}
