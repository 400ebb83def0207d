"""The grid score on cases whose answer is known: a smooth ramp has no pattern, nearest-neighbour
blocks an infinite one, bicubic interpolation a visible one; the phase bookkeeping is exact."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from hinr.evaluation.grid_score import PhaseProfile, grid_score


def upscale(image: torch.Tensor, k: int, method) -> torch.Tensor:
    array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = Image.fromarray(array).resize((array.shape[1] * k, array.shape[0] * k), method)
    return torch.from_numpy(np.array(out)).permute(2, 0, 1).float() / 255


def test_smooth_ramp_scores_one():
    ramp = torch.linspace(0, 1, 256).repeat(3, 256, 1)
    assert grid_score(ramp, 8) == pytest.approx(1.0, abs=1e-4)


def test_nearest_neighbour_blocks_score_infinite():
    torch.manual_seed(0)
    blocks = torch.rand(1, 3, 16, 16).repeat_interleave(8, 2).repeat_interleave(8, 3)
    assert grid_score(blocks, 8) == math.inf


def test_bicubic_shows_a_pattern_and_lanczos_less_than_nearest():
    torch.manual_seed(0)
    small = torch.rand(3, 32, 32)
    bicubic = grid_score(upscale(small, 8, Image.BICUBIC), 8)
    assert 1.5 < bicubic < 10


def test_phases_are_counted_from_the_input_grid():
    # one bright column gap every 4 columns, at phase 1: the profile peaks there and only there
    image = torch.zeros(1, 1, 8, 16)
    image[..., 2::4] = 1.0  # columns 2, 6, 10, 14 → gaps after columns 1 and 2 (phases 1, 2)
    profile = PhaseProfile(4)
    profile.add(image)
    horizontal = profile.sums[0] / profile.counts[0]
    assert horizontal.tolist() == [0.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        PhaseProfile(1)
