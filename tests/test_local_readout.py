"""The local read-out (LIIF's local ensemble on the latent grid) and the liif architecture:
the geometry of the four corners, continuity across cell borders, locality (a query reads only
the latents around it), the pixel view, and that its latents carry the picture."""

from pathlib import Path

import pytest
import torch

import hinr
from hinr.config import ARCHITECTURES, ModelConfig, preset
from hinr.models.edsr_encoder import EdsrEncoder
from hinr.models.hinr import HINR, Latents
from hinr.models.local_decoder import LocalDecoder


def local_model(arch: str = "hybrid", **overrides) -> HINR:
    torch.manual_seed(0)
    options = dict(readout="local", cell_input=True, decoder_depth=2)
    if arch in ("liif", "hybrid-v2"):  # they read out locally by design
        options = {}
    return HINR(preset("tiny", arch=arch, **{**options, **overrides})).eval()


def test_corners_weights_and_offsets():
    dec = LocalDecoder(context_dim=8, side=4, image_size=8, hidden=8, depth=1, unfold=False,
                       cell_input=False, pixel_view=0)
    # latent centres at (j + 0.5)/4; this query is 30 % of the way from centre (1, 2) to (2, 3)
    coords = torch.tensor([[[(1.5 + 0.3) / 4, (2.5 + 0.3) / 4]]])
    index, offset, weight = dec.corners(coords)
    assert index[0, 0].tolist() == [2 * 4 + 1, 2 * 4 + 2, 3 * 4 + 1, 3 * 4 + 2]
    torch.testing.assert_close(weight[0, 0], torch.tensor([0.49, 0.21, 0.21, 0.09]))
    torch.testing.assert_close(offset[0, 0], torch.tensor([[0.3, 0.3], [-0.7, 0.3], [0.3, -0.7],
                                                          [-0.7, -0.7]]))
    # at the border the corners clamp, and the weights still sum to 1
    _, _, edge = dec.corners(torch.tensor([[[0.01, 0.99]]]))
    assert float(edge.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("arch", ["hybrid", "liif"])
def test_output_is_continuous_across_cell_borders(arch):
    """Where the four corners change (at latent centres, and for the pixel view too) the blend
    weights of the corners that leave are zero: no jump in the output."""
    model = local_model(arch, **({"local_pixels": 4, "residual": True} if arch == "hybrid" else {}))
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder.to_rgb.weight, std=0.3)  # a residual model starts at 0
        latents = model.encode(torch.rand(1, 3, 32, 32))
        side = model.config.latent_grid
        eps = 1e-5
        lines = (torch.arange(side) + 0.5) / side
        inside = (torch.arange(side) + 0.25) / side
        ys = torch.rand(len(lines))

        def step(xs):  # the output's change over 2·eps in x at each of xs
            a, b = torch.stack([xs - eps, ys], -1), torch.stack([xs + eps, ys], -1)
            return (model.decode(latents, a) - model.decode(latents, b)).abs().max()

        # across the lines where the corners change, the output moves no more than it does over
        # the same distance inside a cell (a jump would be orders of magnitude larger)
        assert step(lines) < 5 * step(inside) + 1e-6
        far = torch.stack([inside + 0.02, ys], -1)
        assert (model.decode(latents, torch.stack([inside, ys], -1))
                - model.decode(latents, far)).abs().max() > 100 * step(lines)


def test_a_query_reads_only_the_latents_around_it():
    model = local_model()
    latents = model.encode(torch.rand(1, 3, 32, 32))
    query = torch.tensor([[0.5 + 0.01, 0.5 + 0.01]])  # just past the centre of latent (8, 8)
    near = Latents(latents.tokens.clone(), latents.images)
    far = Latents(latents.tokens.clone(), latents.images)
    grid = near.tokens.view(1, 16, 16, -1)
    bump = torch.randn(grid.shape[-1])  # not a constant: the read-out's LayerNorm removes those
    grid[0, 8, 8] += bump
    far.tokens.view(1, 16, 16, -1)[0, 0, 0] += bump
    with torch.no_grad():
        base = model.decode(latents, query)
        assert not torch.allclose(model.decode(near, query), base)
        torch.testing.assert_close(model.decode(far, query), base, rtol=0, atol=0)


def test_pixel_view_windows_centre_on_each_cell():
    dec = LocalDecoder(context_dim=8, side=4, image_size=8, hidden=8, depth=1, unfold=False,
                       cell_input=False, pixel_view=4)
    images = torch.arange(64.0).view(1, 1, 8, 8).expand(1, 3, 8, 8) / 63
    windows = dec._pixel_windows(images)  # (1, 16, 3·16)
    cell = windows[0, 1 * 4 + 2].view(3, 4, 4)[0]  # cell (row 1, col 2): pixels rows 1–4, cols 3–6
    expected = (torch.arange(64.0).view(8, 8)[1:5, 3:7] / 63) * 2 - 1
    torch.testing.assert_close(cell, expected)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_latents_change_the_picture(arch):
    """With the local read-out the picture comes from the tokens (untrained encoders give nearly
    the same tokens for any image, so other tokens are drawn at random here)."""
    model = local_model(arch)
    a = model.encode(torch.rand(1, 3, 32, 32))
    swapped = Latents(torch.randn_like(a.tokens), a.images)
    with torch.no_grad():
        assert (model.render(a, 48, 48) - model.render(swapped, 48, 48)).abs().mean() > 1e-3


def test_untrained_residual_local_model_is_bicubic_and_learns_from_step_one():
    model = local_model(residual=True, local_pixels=4).train()
    x = torch.rand(2, 3, 32, 32)
    coords = torch.rand(2, 50, 2)
    from hinr.layers.bicubic import pil_bicubic

    out = model(x, coords)
    torch.testing.assert_close(out, pil_bicubic(x, coords, torch.full((2, 2), 1 / 32)))
    out.pow(2).mean().backward()
    assert model.decoder.to_rgb.weight.grad.abs().sum() > 0  # the decoder is not starved


def test_render_matches_decode_and_chunks():
    model = local_model(local_pixels=6, residual=True)
    latents = model.encode(torch.rand(2, 3, 32, 32))
    with torch.no_grad():
        whole = model.render(latents, 20, 30, chunk=10**6)
        pieces = model.render(latents, 20, 30, chunk=37)
    torch.testing.assert_close(whole, pieces)


def test_liif_base_is_edsr_baseline_with_lifs_mlp():
    c = preset("base", arch="liif")
    assert (c.readout, c.unfold, c.cell_input, c.num_latents) == ("local", True, True, 1024)
    encoder = EdsrEncoder(dim=64, depth=16)
    # EDSR-baseline without its upsampler: head 3→64, 16 blocks of two 64→64 3×3 convs, tail
    assert sum(p.numel() for p in encoder.parameters()) == (3 * 9 * 64 + 64) + 33 * (64 * 9 * 64 + 64)
    model = HINR(c)
    hidden = [m for m in model.decoder.hidden]
    assert len(hidden) == 3 and model.decoder.feature_in.in_features == 9 * 64  # 4 layers of 256
    assert model.decoder.feature_in.out_features == 256


def test_config_rules_and_old_checkpoints():
    with pytest.raises(ValueError, match="readout"):
        preset("tiny", readout="nearest")
    with pytest.raises(ValueError, match="local_pixels"):
        preset("tiny", readout="local", local_pixels=3)  # 2 px per cell: windows must be even
    with pytest.raises(ValueError, match="liif"):
        ModelConfig(arch="liif", readout="attention")
    old = preset("tiny").to_dict()
    for key in ("readout", "unfold"):
        old.pop(key)
    assert ModelConfig.from_dict(old).readout == "attention"  # configs saved before the option
    previous = Path(__file__).parent / "data" / "previous_weights" / "hybrid-3b6d628b.safetensors"
    assert hinr.load_model(previous).config.readout == "attention"  # the hybrid shipped until round 6


def test_save_load_round_trip(tmp_path):
    model = local_model("liif")
    hinr.save_model(model, tmp_path / "m.safetensors")
    loaded = hinr.load_model(tmp_path / "m.safetensors")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.render(loaded.encode(x), 40, 40),
                                   model.render(model.encode(x), 40, 40))


def test_models_lists_liif(run_cli):
    code, out, _ = run_cli("models")
    assert code == 0
    assert "liif" in out and "EDSR ×16" in out and "local MLP" in out


def test_memory_estimate_of_the_local_read_out_does_not_grow_with_the_latents():
    from hinr.inference.memory import bytes_per_query

    small = preset("tiny", readout="local", decoder_dim=64)
    many = preset("tiny", arch="liif", decoder_dim=64)  # 1024 latents, not 256
    assert many.num_latents == 4 * small.num_latents
    assert bytes_per_query(small) == bytes_per_query(many)
    assert bytes_per_query(many) < bytes_per_query(preset("tiny", decoder_dim=64, num_latents=1024))


def test_blocked_decoding_matches_one_pass(monkeypatch):
    """Outside training the queries are decoded in cache-sized blocks: the same numbers."""
    model = local_model("liif")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    coords = torch.rand(2, 300, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        latents = model.encode(x)
        whole = model.decode(latents, coords)
        monkeypatch.setattr(LocalDecoder, "BLOCK_ROWS", 40)  # 5 queries × 4 corners × 2 images
        torch.testing.assert_close(model.decode(latents, coords), whole, rtol=0, atol=1e-6)


def test_first_layer_convolution_is_unfold_then_linear():
    """prepare's 3×3 convolution with the first layer's weights is LIIF's unfold + linear layer
    (same channel order), with gradients reaching the same weights."""
    import torch.nn.functional as F
    from einops import rearrange

    decoder = local_model("liif").decoder
    grid = torch.randn(2, decoder.feature_in.in_features // 9, 5, 7, requires_grad=True)
    unfolded = rearrange(F.unfold(grid, 3, padding=1), "b d m -> b m d")
    expected = decoder.feature_in(unfolded)
    got = decoder._first_layer(grid)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    got.square().sum().backward()
    conv_grad = decoder.feature_in.weight.grad.clone()
    decoder.feature_in.weight.grad = None
    expected.square().sum().backward()
    torch.testing.assert_close(conv_grad, decoder.feature_in.weight.grad, rtol=1e-4, atol=1e-4)


def test_fused_linear_relu_matches_plain_and_keeps_autograd():
    from hinr.layers import fused

    layer = torch.nn.Linear(16, 8)
    x = torch.randn(50, 16).bfloat16()
    with torch.no_grad():
        plain = torch.relu(layer.bfloat16()(x))
        got = fused.linear_relu(x, layer)
    assert got.dtype == torch.bfloat16 and (got >= 0).all()
    torch.testing.assert_close(got.float(), plain.float(), rtol=0, atol=1e-2)
    layer = layer.float()
    y = torch.randn(5, 16, requires_grad=True)  # training: the plain path, with gradients
    fused.linear_relu(y, layer).sum().backward()
    assert y.grad is not None and layer.weight.grad is not None


def test_grid_render_uses_the_separable_base_and_matches_per_query_decoding():
    """decode_grid passes its separably computed bicubic base; the pixels equal those decoded
    with the per-query base (a base_skip model, whose output adds the base)."""
    from hinr.coords import axis_centres, cell_size, grid_coords
    from hinr.models.render import decode_grid

    model = local_model("liif", base_skip=True)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        latents = model.encode(x)
        xs, ys, cell = axis_centres(50), axis_centres(45), cell_size(45, 50)
        blocks = list(decode_grid(model, latents, xs, ys, cell, chunk=700))
        assert len(blocks) > 1
        out = torch.zeros(1, 3, 45, 50)
        for r0, r1, c0, c1, rgb in blocks:
            out[:, :, r0:r1, c0:c1] = rgb
        direct = model.decode(latents, grid_coords(xs, ys), cell)
    torch.testing.assert_close(out, direct.reshape(1, 45, 50, 3).permute(0, 3, 1, 2), rtol=0, atol=1e-5)


@pytest.mark.parametrize("start", ["output", "gate"])
def test_hybrid_v2_starts_as_its_local_part_and_its_global_path_learns_with_output_start(start):
    """Either start renders exactly the local part; only ``output`` gives the global decoder's
    weights a gradient at the first step (with ``gate`` all are zero: the first runs' stall)."""
    import copy

    model = local_model("hybrid-v2", global_start=start).train()
    torch.nn.init.normal_(model.decoder.local.to_rgb.weight, std=0.1)  # a local part that is not flat
    x, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 50, 2)
    local_only = copy.deepcopy(model)
    with torch.no_grad():
        local_only.decoder.global_gate.zero_()
    out = model(x, coords)
    assert torch.equal(out, local_only(x, coords))
    target = torch.rand_like(out)
    (out - target).pow(2).mean().backward()
    globe = model.decoder.globe
    inner = globe.cross_attn.to_q.weight
    if start == "gate":
        assert all(p.grad is None or not p.grad.any() for p in globe.parameters())
        return
    assert globe.to_rgb.weight.grad.abs().sum() > 0
    assert not inner.grad.any()  # behind a zero layer at step 0 …
    with torch.no_grad():
        globe.to_rgb.weight -= 1.0 * globe.to_rgb.weight.grad  # … one step on the output layer
    model.zero_grad()
    (model(x, coords) - target).pow(2).mean().backward()
    assert inner.grad.abs().sum() > 0  # … and the whole global path learns


def test_hybrid_v2_scan_layout_follows_the_grid():
    """The column scan of a rows × cols grid visits the patches column by column (and its inverse
    puts them back); the LP tokens and patches share the sequence's positions once each."""
    from hinr.models.hybrid_v2 import scan_layout

    lp, patches, column, inverse = scan_layout(2, 3, 2)
    assert column.tolist() == [0, 3, 1, 4, 2, 5]
    assert torch.equal(column[inverse], torch.arange(6))
    assert sorted(lp.tolist() + patches.tolist()) == list(range(8))
    model = local_model("hybrid-v2")
    for own, fresh in zip(model.encoder.layout(16, 16), scan_layout(16, 16, model.config.num_latents)):
        assert torch.equal(own, fresh)  # the 32×32 input's buffers are the same layout


def test_hybrid_v2_reads_inputs_of_other_even_sides():
    """--input-size training: a 48×40 input makes one local feature per pixel (a 48 × 40 grid for
    the read-out) plus the M global latents, and renders; odd sides are refused."""
    model = local_model("hybrid-v2", base_skip=True)
    x = torch.rand(2, 3, 48, 40)
    latents = model.encode(x)
    assert latents.tokens.shape == (2, 48 * 40 + model.config.num_latents, model.config.dim)
    (_, grid), _ = model.prepare(latents)
    assert grid == (48, 40)
    out = model.render(latents, 96, 80)
    assert out.shape == (2, 3, 96, 80) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="even sides"):
        model.encode(torch.rand(1, 3, 33, 32))
