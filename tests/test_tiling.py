"""Tile planning and blending: full coverage, weights that sum to one and fade out at interior tile
edges, and upscaling that matches bicubic without seams."""

import numpy as np
import pytest
import torch
from PIL import Image

from hinr import HINR, preset
from hinr.inference.tiling import plan_tiles, tile_offsets, tile_window
from hinr.inference.upscale import enlarge_to_fit, resize_bicubic, upscale_image


def _weight_map(plan):
    total = torch.zeros(plan.out_height, plan.out_width)
    for y, x in plan:
        total[y.start:y.stop, x.start:x.stop] += y.weight[:, None] * x.weight[None, :]
    return total


def test_offsets_cover_the_axis_and_snap_the_last_tile():
    assert tile_offsets(32, tile=32, stride=16) == [0]
    assert tile_offsets(100, tile=32, stride=16) == [0, 16, 32, 48, 64, 68]
    assert tile_offsets(56, tile=32, stride=24) == [0, 24]
    with pytest.raises(ValueError, match="enlarge"):
        tile_offsets(20, tile=32, stride=16)


@pytest.mark.parametrize("h, w, oh, ow, stride", [
    (32, 32, 128, 128, 16), (100, 70, 301, 173, 16), (64, 96, 64, 96, 24), (128, 128, 40, 33, 16),
    (33, 200, 99, 600, 8),
])
def test_weights_partition_unity_and_cover_every_output_pixel(h, w, oh, ow, stride):
    plan = plan_tiles(h, w, oh, ow, stride=stride)
    assert torch.allclose(_weight_map(plan), torch.ones(oh, ow), atol=1e-5)
    for y, x in plan:
        assert 0 <= x.offset <= w - 32 and 0 <= y.offset <= h - 32
        assert float(x.local.min()) >= 0 and float(x.local.max()) < 1
    image = torch.rand(3, h, w)
    assert all(plan.crop(image, y, x).shape == (3, 32, 32) for y, x in plan)


def test_single_tile_has_weight_one_everywhere():
    plan = plan_tiles(32, 32, 50, 70)
    assert len(plan) == 1
    (y, x), = list(plan)
    assert torch.equal(y.weight, torch.ones(50)) and torch.equal(x.weight, torch.ones(70))


def test_window_is_zero_in_the_margins_ramps_over_the_blend_and_is_flat_at_the_border():
    # tile 32, stride 24, blend 4: margin 2 px, ramps over [2, 6) and [26, 30) input px
    u = torch.tensor([1.0, 2.0, 4.0, 6.0, 16.0, 28.0, 30.0, 31.0])
    inner = tile_window(u / 32, tile=32, stride=24, blend=4, flat_start=False, flat_end=False)
    torch.testing.assert_close(inner, torch.tensor([0, 0, 0.5, 1, 1, 0.5, 0, 0], dtype=torch.float64))
    border = tile_window(u / 32, tile=32, stride=24, blend=4, flat_start=True, flat_end=False)
    assert torch.equal(border[:5], torch.ones(5, dtype=border.dtype)) and border[-1] == 0
    plan = plan_tiles(96, 96, 384, 384)
    interior = plan.xs[2]  # neither first nor last: it decodes only where its window is > 0
    assert interior.weight[0] < 0.05 and interior.weight[-1] < 0.05
    assert interior.stop - interior.start < 32 * 4


def test_each_output_pixel_is_decoded_about_once():
    plan = plan_tiles(270, 480, 1080, 1920)
    assert plan.queries / (1080 * 1920) < 1.45  # a window over the whole tile: about 1.8


def test_stride_that_leaves_gaps_is_refused():
    with pytest.raises(ValueError, match="stride"):
        plan_tiles(200, 200, 400, 400, stride=25)


def _u8(array):
    return np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)


def _pil_bicubic(image: torch.Tensor, h: int, w: int) -> np.ndarray:
    pil = Image.fromarray(_u8(image.permute(1, 2, 0).numpy())).resize((w, h), Image.BICUBIC)
    return np.asarray(pil).astype(np.float32) / 255


def test_32x32_input_renders_pil_bicubic(bicubic_model):
    image = torch.from_numpy(_u8(np.random.default_rng(0).random((32, 32, 3)))).permute(2, 0, 1) / 255
    out = upscale_image(bicubic_model, image.float(), (100, 77))
    assert out.shape == (3, 100, 77)
    # to within PIL's own uint8 rounding (of its intermediate pass and its output)
    diff = _u8(out.permute(1, 2, 0).numpy()).astype(int) - _u8(_pil_bicubic(image, 100, 77))
    assert np.abs(diff).max() <= 1


def test_smooth_gradient_upscales_without_seams(bicubic_model):
    h, w = 72, 104  # several tiles each way, the last ones snapped
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    image = torch.stack([xs, ys, 0.5 + 0.4 * torch.sin(3 * xs + 2 * ys)])
    image = torch.from_numpy(_u8(image.permute(1, 2, 0).numpy())).permute(2, 0, 1).float() / 255
    oh, ow = 3 * h + 1, 3 * w - 2  # a non-integer scale
    out = upscale_image(bicubic_model, image, (oh, ow)).permute(1, 2, 0).numpy()
    # the tiles together reproduce the whole-image bicubic (each tile alone is wrong near its edges)
    whole = resize_bicubic(image, oh, ow).permute(1, 2, 0).numpy()
    assert np.abs(out - whole).max() < 0.05 / 255
    assert np.abs(_u8(out).astype(int) - _u8(_pil_bicubic(image, oh, ow))).max() <= 1
    # and no jump where one tile's footprint ends: second differences there are as small as inside
    plan = plan_tiles(h, w, oh, ow)
    seams = sorted({x.start for x in plan.xs[1:]} | {x.stop for x in plan.xs[:-1]})
    second = np.abs(np.diff(out, n=2, axis=1)).max(axis=(0, 2))
    at_seams = max(second[max(s - 3, 0):s + 2].max() for s in seams)
    assert at_seams <= 1.5 * np.median(second) + 2.0 / 255


def test_blending_hides_disagreeing_tiles():
    """With a random correction switched on, each tile renders its own smooth function; blended,
    the result has no step where footprints meet (a hard cut there jumps by ~0.9)."""
    torch.manual_seed(0)
    model = HINR(preset("tiny", residual=True, fourier_scale=1.0)).eval()  # smooth in coordinates
    with torch.no_grad():
        model.residual_gate.fill_(0.3)
    out = upscale_image(model, torch.full((3, 64, 64), 0.5), (256, 256))
    assert out.shape == (3, 256, 256) and torch.isfinite(out).all()
    for axis in (1, 2):
        step = out.diff(dim=axis).abs().amax(dim=(0, 3 - axis))
        assert step.max() <= 3 * step.median()


def test_small_inputs_are_enlarged_to_the_model_side():
    assert enlarge_to_fit(torch.rand(3, 16, 16), side=32).shape == (3, 32, 32)
    assert enlarge_to_fit(torch.rand(3, 20, 50), side=32).shape == (3, 32, 80)
    assert enlarge_to_fit(torch.rand(3, 40, 50), side=32).shape == (3, 40, 50)


def test_small_input_upscale_is_close_to_bicubic(bicubic_model):
    image = torch.from_numpy(_u8(np.random.default_rng(3).random((12, 20, 3)))).permute(2, 0, 1) / 255
    out = upscale_image(bicubic_model, image.float(), (48, 80))
    assert out.shape == (3, 48, 80)
    # bicubic via 32 px is not bicubic in one step, but stays close to it
    assert np.abs(out.permute(1, 2, 0).numpy() - _pil_bicubic(image, 48, 80)).mean() < 0.03


def _blend_tiles(model, image, plan, *, latents_of):
    """The plan's tiles decoded one by one from ``latents_of(y, x)`` and blended: (3, H, W)."""
    out = torch.zeros(3, plan.out_height, plan.out_width)
    with torch.no_grad():
        for y, x in plan:
            gy, gx = torch.meshgrid(y.local, x.local, indexing="ij")
            coords = torch.stack([gx.flatten(), gy.flatten()], -1)
            rgb = model.decode(latents_of(y, x), coords, plan.cell())[0]
            rgb = rgb.T.reshape(3, len(y.local), len(x.local))
            out[:, y.start:y.stop, x.start:x.stop] += rgb * y.weight[:, None] * x.weight[None, :]
    return out.clamp(0, 1)


def test_each_tile_is_rendered_from_its_own_latents(latent_model):
    """With a model whose pixels come from its latents, the tiled upscale is each tile encoded from
    its own crop, decoded at its own coordinates and blended by the plan's weights — so tiles
    batched together, reordered or given each other's latents would not match."""
    image = torch.rand(3, 48, 72, generator=torch.Generator().manual_seed(0))
    out = upscale_image(latent_model, image, (96, 150), stride=16, batch_size=4)
    plan = plan_tiles(48, 72, 96, 150, stride=16)
    assert len(plan) == 2 * 4  # two batches of tiles

    def own(y, x):
        return latent_model.encode(plan.crop(image, y, x)[None])

    torch.testing.assert_close(out, _blend_tiles(latent_model, image, plan, latents_of=own),
                               rtol=0, atol=1e-5)
    first = own(plan.ys[0], plan.xs[0])  # a round-trip bug: all tiles decoded from one's latents
    wrong = _blend_tiles(latent_model, image, plan, latents_of=lambda y, x: first)
    assert (out - wrong).abs().max() > 0.1
