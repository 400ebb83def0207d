"""Self-ensemble: the eight symmetries undo exactly, and the ensembled upscale is symmetric."""

import pytest
import torch

from hinr.inference.ensemble import transforms
from hinr.inference.upscale import upscale_image


def test_transforms_are_the_eight_distinct_symmetries_and_undo_exactly():
    image = torch.rand(3, 5, 7)
    seen = set()
    for t in transforms(8):
        moved = t.apply(image)
        assert moved.shape[-2:] == t.size(5, 7)
        assert torch.equal(t.undo(moved), image)
        seen.add(moved.numpy().tobytes())
    assert len(seen) == 8
    assert [t.size(5, 7) for t in transforms(4)] == [(5, 7)] * 4  # the first four keep the shape
    assert transforms(1)[0].apply(image) is not None and torch.equal(transforms(1)[0].apply(image), image)
    with pytest.raises(ValueError, match="ensemble"):
        transforms(3)


def test_point_and_cell_follow_the_pixels_they_name():
    """A pixel centre moved by ``point`` names the pixel ``apply`` moved its value to."""
    from hinr.coords import index_centre

    height, width = 5, 7
    image = torch.arange(height * width, dtype=torch.float32).reshape(1, height, width)
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    xy = torch.stack([index_centre(cols, width), index_centre(rows, height)], dim=-1).reshape(-1, 2)
    for t in transforms(8):
        moved = t.apply(image)[0]
        new_h, new_w = moved.shape
        to = t.point(xy)
        new_cols = (to[:, 0] * new_w - 0.5).round().long()
        new_rows = (to[:, 1] * new_h - 0.5).round().long()
        assert torch.equal(moved[new_rows, new_cols], image[0].flatten())
        cell = torch.tensor([1 / width, 1 / height])
        assert torch.allclose(t.cell(cell), torch.tensor([1 / new_w, 1 / new_h]))


@pytest.mark.parametrize("shape, size", [((3, 32, 32), (64, 64)), ((3, 40, 56), (80, 112))])
def test_ensemble_of_8_is_equivariant_to_a_mirror(options_model, shape, size):
    """Averaged over all symmetries, mirroring the input mirrors the output (up to float order)."""
    image = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    single = upscale_image(options_model, image, size)
    mirrored_single = upscale_image(options_model, image.flip(-1), size)
    assert (mirrored_single.flip(-1) - single).abs().max() > 1e-3  # one pass alone is not symmetric
    both = upscale_image(options_model, image, size, ensemble=8)
    mirrored = upscale_image(options_model, image.flip(-1), size, ensemble=8)
    assert both.shape == (3, *size)
    assert (mirrored.flip(-1) - both).abs().max() < 1e-5
    assert (both - single).abs().max() > 1e-3


def test_ensemble_reports_progress_over_all_passes(options_model):
    calls = []
    upscale_image(options_model, torch.rand(3, 32, 32), (48, 48), ensemble=4,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (4 * 48 * 48, 4 * 48 * 48)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))


def test_ensemble_of_1_is_the_plain_upscale(options_model):
    import hinr

    image = torch.rand(3, 36, 33)
    plain = upscale_image(options_model, image, (70, 66))
    assert torch.equal(hinr.upscale_image(options_model, image, (70, 66), ensemble=1), plain)
