"""Widening the local-pixel taps keeps the model's function and makes the new taps trainable."""

import pytest
import torch

from hinr import HINR, preset
from hinr.widen import widen_local_pixels


@pytest.mark.parametrize("arch", ["hybrid", "scent"])
def test_widened_model_computes_the_same_function(arch):
    torch.manual_seed(0)
    model = HINR(preset("tiny", arch=arch, residual=True, locality=True, cell_input=True,
                        local_pixels=4)).eval()
    with torch.no_grad():
        model.residual_gate.fill_(1.0)
    wide = widen_local_pixels(model, 6)
    assert wide.config.local_pixels == 6 and model.config.local_pixels == 4
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 300, 2)
    with torch.no_grad():
        assert (wide(images, coords) - model(images, coords)).abs().max() < 1e-5
    # the outer taps' columns start at zero, and they matter once they learn
    weight = wide.decoder.query_proj.weight
    zero = weight.abs().sum(0) == 0
    assert zero.sum() == 3 * (36 - 16)
    with torch.no_grad():
        weight[:, zero] = 0.1 * torch.randn(weight.shape[0], int(zero.sum()))
        assert (wide(images, coords) - model(images, coords)).abs().max() > 1e-3


def test_widening_refuses_what_it_cannot_keep():
    torch.manual_seed(0)
    model = HINR(preset("tiny", local_pixels=4, residual=True))
    for k in (4, 5, 2, 7):
        with pytest.raises(ValueError, match="widen"):
            widen_local_pixels(model, k)
    with pytest.raises(ValueError, match="no local pixels"):
        widen_local_pixels(HINR(preset("tiny")), 6)


def test_local_pixels_must_be_even():
    for k in (3, 14, -2):
        with pytest.raises(ValueError, match="local_pixels"):
            preset("tiny", local_pixels=k)
    assert preset("tiny", local_pixels=8).local_pixels == 8
