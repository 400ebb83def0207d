"""Behaviour of every architecture: shapes, gradients, resolution-independent rendering, chunking."""

import pytest
import torch

from hinr import ARCHITECTURES, HINR, preset
from hinr.coords import cell_size, pixel_centres

OPTIONS = dict(residual=True, locality=True, cell_input=True, local_pixels=4)


def tiny(arch: str, **overrides) -> HINR:
    torch.manual_seed(0)
    if arch == "liif" and overrides.get("local_pixels"):
        overrides["local_pixels"] = 3  # one latent per pixel: the window centres on a pixel
    return HINR(preset("tiny", arch=arch, **overrides)).eval()


@pytest.fixture(params=[(a, opts) for a in ARCHITECTURES for opts in ("plain", "options")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def model(request) -> HINR:
    arch, opts = request.param
    m = tiny(arch, **(OPTIONS if opts == "options" else {}), lp_placement="interleave" if opts == "options" else "append")
    if m.residual_gate is not None:
        with torch.no_grad():
            m.residual_gate.fill_(1.0)  # open the gate so the decoder's output matters
            if m.local:  # the local read-out starts from a zero output layer instead
                torch.nn.init.normal_(m.decoder.to_rgb.weight, std=0.1)
    return m


def test_shapes(model):
    images = torch.rand(2, 3, 32, 32)
    latents = model.encode(images)
    assert latents.tokens.shape == (2, model.config.num_latents, model.config.dim)
    assert model.decode(latents, torch.rand(7, 2)).shape == (2, 7, 3)
    assert model.decode(latents, torch.rand(2, 5, 2)).shape == (2, 5, 3)
    assert model.render(latents, 17, 45).shape == (2, 3, 17, 45)


def test_every_parameter_gets_a_gradient(model):
    model.train()
    out = model(torch.rand(2, 3, 32, 32), torch.rand(2, 64, 2), cell_size(64, 64))
    out.pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_render_32_equals_decoding_pixel_centres(model):
    latents = model.encode(torch.rand(1, 3, 32, 32))
    rendered = model.render(latents, 32, 32)
    decoded = model.decode(latents, pixel_centres(32, 32), cell_size(32, 32)).clamp(0, 1)
    assert torch.allclose(rendered.flatten(2).transpose(1, 2), decoded, atol=1e-6)


def test_chunked_rendering_equals_unchunked(model):
    latents = model.encode(torch.rand(2, 3, 32, 32))
    whole = model.render(latents, 40, 24, chunk=40 * 24)
    chunked = model.render(latents, 40, 24, chunk=97)
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_render_reports_progress(model):
    seen = []
    model.render(model.encode(torch.rand(1, 3, 32, 32)), 10, 10, chunk=30,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen == [(30, 100), (60, 100), (90, 100), (100, 100)]


def test_encode_rejects_wrong_size():
    with pytest.raises(ValueError, match="32, 32"):
        tiny("hybrid").encode(torch.rand(1, 3, 31, 32))


@pytest.mark.parametrize("placement", ["append", "interleave"])
def test_lp_placement_changes_latents(placement):
    images = torch.rand(1, 3, 32, 32)
    a = tiny("hybrid", lp_placement=placement).encode(images).tokens
    b = tiny("hybrid", lp_placement="interleave" if placement == "append" else "append").encode(images).tokens
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_latents_depend_on_the_image():
    m = tiny("hybrid")
    a = m.encode(torch.zeros(1, 3, 32, 32)).tokens
    b = m.encode(torch.ones(1, 3, 32, 32)).tokens
    assert (a - b).abs().max() > 1e-3


def test_query_self_attention_disables_chunking():
    m = tiny("hybrid", decoder_self_attn=1)
    assert not m.config.chunkable
    latents = m.encode(torch.rand(1, 3, 32, 32))
    assert torch.allclose(m.render(latents, 12, 12, chunk=7), m.render(latents, 12, 12, chunk=144))


def test_untrained_residual_model_is_pils_bicubic():
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    # a smooth image plus noise: exercises both gentle and overshooting interpolation
    yy, xx = np.mgrid[0:32, 0:32]
    base = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1) + rng.integers(0, 60, (32, 32, 3))
    arr = np.clip(base, 0, 255).astype(np.uint8)
    images = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    for arch in ARCHITECTURES:
        m = tiny(arch, residual=True, locality=True, local_pixels=4)
        for h, w in [(128, 128), (17, 45), (64, 96)]:
            out = m.render(m.encode(images), h, w)[0].permute(1, 2, 0).numpy() * 255
            ref = np.asarray(Image.fromarray(arr).resize((w, h), Image.BICUBIC)).astype(np.float32)
            assert np.abs(np.round(out) - ref).max() <= 1.0, (arch, h, w)


def test_bicubic_base_stays_exact_under_bf16_autocast():
    """Autocast would run the bicubic's einsums in bf16: up to 2 grey levels off."""
    m = tiny("hybrid", residual=True, locality=True, local_pixels=4)
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 500, 2)
    with torch.no_grad():
        latents = m.encode(images)
        ref = m.decode(latents, coords)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m.decode(latents, coords)
    assert low.dtype == torch.float32
    assert torch.equal(low, ref)  # the gate is 0: the output is the base alone


def test_short_training_drives_the_loss_down():
    torch.manual_seed(0)
    m = HINR(preset("tiny", arch="hybrid", lp_placement="interleave", locality=True))
    images = torch.rand(3, 3, 8, 8).repeat_interleave(4, -1).repeat_interleave(4, -2)  # blocky 32×32
    coords = pixel_centres(32, 32)
    target = images.flatten(2).transpose(1, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = (m(images, coords) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


def test_bf16_autocast_stays_close_to_fp32():
    """Fourier angles reach ~±100 rad: computed in bf16 they would be wrong by ~25 %."""
    for arch in ARCHITECTURES:
        m = tiny(arch)
        images, coords = torch.rand(1, 3, 32, 32), torch.rand(1, 64, 2)
        with torch.no_grad():
            ref = m(images, coords)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = m(images, coords).float()
        assert (low - ref).abs().max() < 0.05, arch
