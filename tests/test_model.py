"""Behaviour of every architecture: shapes, gradients, resolution-independent rendering, chunking."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hinr import ARCHITECTURES, HINR, ModelConfig, load_model, preset
from hinr.coords import cell_size, pixel_centres
from hinr.models.hinr import Latents
from hinr.models.mamba_encoder import interleave_positions

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
    if arch == "hybrid-v2":  # reads out locally by design: its option is the bicubic skip
        m = tiny(arch, **({"base_skip": True} if opts == "options" else {}))
        with torch.no_grad():
            m.decoder.global_gate.fill_(0.5)  # open the global path so it matters (and learns):
            torch.nn.init.normal_(m.decoder.globe.to_rgb.weight, std=0.1)  # it starts at zero
        return m
    if arch == "hybrid-v3":  # one path by design: its options are its retrain-ablations
        m = tiny(arch, **({"lp_tokens": False, "processor_depth": 0} if opts == "options" else {}))
        with torch.no_grad():  # its RGB layer starts at zero (the model starts as bicubic)
            torch.nn.init.normal_(m.decoder.to_rgb.weight, std=0.1)
        return m
    m = tiny(arch, **(OPTIONS if opts == "options" else {}), lp_placement="interleave" if opts == "options" else "append")
    if m.residual_gate is not None:
        with torch.no_grad():
            m.residual_gate.fill_(1.0)  # open the gate so the decoder's output matters
            if m.config.readout == "local":  # the local read-out starts from a zero output layer instead
                torch.nn.init.normal_(m.decoder.to_rgb.weight, std=0.1)
    return m


def test_shapes(model):
    images = torch.rand(2, 3, 32, 32)
    latents = model.encode(images)
    c = model.config  # hybrid-v2's tokens: its local map (one per pixel), then its latents
    tokens = c.image_size ** 2 + c.num_latents if c.arch == "hybrid-v2" else c.num_latents
    assert latents.tokens.shape == (2, tokens, c.dim)
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
    # other chunk shapes sum in another order: a few float32 ulps (≈3e-6 measured) apart
    assert torch.allclose(whole, chunked, atol=1e-5)


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
        if arch == "hybrid-v2":
            continue  # no residual: it adds bicubic through base_skip instead
        # hybrid-v3 has no residual option: untrained, its zero RGB layer and the bicubic skip
        # make it the same picture
        m = tiny(arch) if arch == "hybrid-v3" else tiny(arch, residual=True, locality=True, local_pixels=4)
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


def test_base_preset_runs_at_its_real_sizes():
    """The design as written (dim 256, 6 BiMamba blocks, 256 latents, decoder width 512)."""
    torch.manual_seed(0)
    m = HINR(preset("base")).eval()
    assert (m.config.dim, m.config.encoder_depth, m.config.decoder_dim) == (256, 6, 512)
    with torch.no_grad():
        latents = m.encode(torch.rand(1, 3, 32, 32))
        out = m.render(latents, 32, 32)
    assert latents.tokens.shape == (1, 256, 256)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def test_interleaved_lp_positions_follow_mamba_ginr():
    """MAMBA-GINR's code places LP token i at linspace(0, L+M−1, M).long(), i.e. floor."""
    for num_patches, num_latents in [(256, 256), (256, 64), (64, 16), (1024, 256), (16, 16)]:
        lp, patches = interleave_positions(num_patches, num_latents)
        expected = torch.linspace(0, num_patches + num_latents - 1, num_latents).long()
        assert torch.equal(lp, expected), (num_patches, num_latents)
        together = torch.cat([lp, patches]).sort().values
        assert torch.equal(together, torch.arange(num_patches + num_latents))
    old, _ = interleave_positions(256, 256, "round")
    assert int((old != interleave_positions(256, 256)[0]).sum()) == 127
    assert torch.equal(tiny("hybrid", lp_placement="interleave").encoder.lp_positions,
                       interleave_positions(256, 256)[0])


def test_configs_saved_without_the_interleave_rule_keep_the_rounded_positions():
    saved = preset("tiny", lp_placement="interleave").to_dict()
    assert ModelConfig.from_dict(saved).lp_interleave == "mamba-ginr"
    del saved["lp_interleave"]  # as written by hinr before the field existed
    old = ModelConfig.from_dict(saved)
    assert old.lp_interleave == "round"
    assert torch.equal(HINR(old).encoder.lp_positions, interleave_positions(256, 256, "round")[0])
    with pytest.raises(ValueError, match="lp_interleave"):
        preset("tiny", lp_interleave="floor")


def test_mamba_ginr_interleaves_by_default():
    assert preset("tiny", arch="mamba-ginr").lp_placement == "interleave"
    assert preset("tiny", arch="mamba-ginr", lp_placement="append").lp_placement == "append"
    assert preset("tiny", arch="hybrid").lp_placement == "append"  # the design note's placement


def test_shipped_model_renders_what_it_rendered():
    """The hybrid shipped until round 6 (the default until the liif model; kept in
    tests/data/previous_weights) predates lp_interleave: it must keep its rounded positions. The
    literals were rendered before the rule changed (the new rule moves pixels by up to 0.04)."""
    m = load_model(Path(__file__).parent / "data" / "previous_weights" / "hybrid-3b6d628b.safetensors").eval()
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    image = torch.stack([(xx * 7 + yy * 3) % 32 / 31, (xx * yy) % 17 / 16,
                         0.5 + 0.5 * torch.sin(xx / 3 + yy / 5)])[None]
    with torch.no_grad():
        out = m.render(m.encode(image), 24, 24)
    assert out.double().sum().item() == pytest.approx(846.2356914635748, abs=1e-3)
    expected = torch.tensor([[0.05897732, 0.47774935, 0.31010416, 0.20525843],
                             [0.73979139, 0.47885650, 0.10597929, 0.47878751],
                             [0.69058836, 0.96505266, 0.93929923, 0.71427202],
                             [0.78871018, 0.88636106, 0.75336456, 0.82750189]])
    torch.testing.assert_close(out[0, 0, ::7, ::7], expected, rtol=0, atol=2e-5)


def test_latent_model_renders_from_its_latents(latent_model):
    """The conftest model that CLI, tiling and eval tests use: other latents, other pixels."""
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latents = latent_model.encode(images)
        own = latent_model.render(latents, 24, 24)
        swapped = latent_model.render(Latents(latents.tokens.flip(0), latents.images), 24, 24)
        order = torch.randperm(256, generator=torch.Generator().manual_seed(1))
        shuffled = latent_model.render(Latents(latents.tokens[:, order], latents.images), 24, 24)
        other_image = latent_model.render(Latents(latents.tokens, latents.images.flip(0)), 24, 24)
    torch.testing.assert_close(own, swapped.flip(0))  # the batch is rendered image by image
    assert (own - swapped).abs().mean() > 0.02  # another image's tokens
    assert (own - shuffled).abs().mean() > 0.05  # the same tokens in another order
    assert torch.equal(own, other_image)  # no residual: the pixels come from the tokens alone


def test_importing_hinr_leaves_the_hub_client_unloaded():
    """huggingface_hub is needed only for hf: weights; importing hinr or its CLI must not load
    it."""
    code = ("import sys, hinr, hinr.cli.app; hinr.HINR(hinr.preset('tiny')); "
            "sys.exit('huggingface_hub' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
