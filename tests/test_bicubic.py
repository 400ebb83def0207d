"""The PIL-exact bicubic: rendering the pixel-centre grid equals Image.resize(BICUBIC)."""

import numpy as np
import pytest
import torch
from PIL import Image

from hinr.coords import cell_size, pixel_centres
from hinr.layers.bicubic import pil_bicubic, pixel_neighbourhood

SIZES = [(128, 128), (256, 200), (64, 96), (17, 45), (45, 17), (31, 33), (30, 20), (7, 7), (3, 90), (32, 32)]


@pytest.mark.parametrize("kind", ["noise", "smooth"])
def test_matches_pil_resize_within_one_grey_level(kind):
    rng = np.random.default_rng(0)
    if kind == "noise":  # the worst case: overshoot clipped between PIL's two passes
        arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    else:
        yy, xx = np.mgrid[0:32, 0:32]
        arr = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)
    images = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    for h, w in SIZES:
        out = pil_bicubic(images, pixel_centres(h, w)[None], cell_size(h, w))[0]
        out = np.clip(np.round(out.reshape(h, w, 3).numpy() * 255), 0, 255)
        ref = np.asarray(Image.fromarray(arr).resize((w, h), Image.BICUBIC)).astype(np.float32)
        assert np.abs(out - ref).max() <= 1.0, (h, w)


def test_identity_at_input_resolution():
    images = torch.rand(2, 3, 32, 32)
    out = pil_bicubic(images, pixel_centres(32, 32).expand(2, -1, -1), cell_size(32, 32))
    assert torch.allclose(out, images.flatten(2).transpose(1, 2), atol=1e-6)


def test_pixel_neighbourhood_reads_the_right_pixels():
    images = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).reshape(2, 3, 32, 32)
    # a query just right of and below pixel (row 5, col 9)'s centre
    coords = torch.tensor([[[(9.5 + 0.25) / 32, (5.5 + 0.1) / 32]]]).expand(2, -1, -1)
    pixels, frac = pixel_neighbourhood(images, coords, 4)
    assert torch.allclose(frac[0, 0], torch.tensor([0.25, 0.1]), atol=1e-5)
    grid = pixels[1, 0].reshape(4, 4, 3)  # (row, col, channel) for rows 4..7, cols 8..11
    assert grid[1, 1, 2] == images[1, 2, 5, 9] and grid[0, 0, 0] == images[1, 0, 4, 8]
    assert grid[3, 3, 1] == images[1, 1, 7, 11]


@pytest.mark.parametrize("size, out", [((32, 32), (256, 256)), ((27, 48), (108, 192)),
                                       ((64, 40), (30, 17)), ((50, 50), (10, 80)), ((50, 50), (80, 10))])
def test_separable_grid_equals_per_query_sampling(size, out):
    """bicubic_grid (both of PIL's pass orders, enlarging and reducing, and a sub-block of the
    grid) gives pil_bicubic's values."""
    from hinr.coords import axis_centres, grid_coords
    from hinr.layers.bicubic import bicubic_grid

    (h, w), (oh, ow) = size, out
    images = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h + w))
    xs, ys, cell = axis_centres(ow), axis_centres(oh), cell_size(oh, ow)
    per_query = pil_bicubic(images, grid_coords(xs, ys).unsqueeze(0).expand(2, -1, -1), cell)
    per_query = per_query.reshape(2, oh, ow, 3).permute(0, 3, 1, 2)
    torch.testing.assert_close(bicubic_grid(images, xs, ys, cell), per_query, rtol=0, atol=1e-6)
    block = bicubic_grid(images, xs[2:7], ys[oh // 2:oh // 2 + 3], cell)
    torch.testing.assert_close(block, per_query[:, :, oh // 2:oh // 2 + 3, 2:7], rtol=0, atol=1e-6)
