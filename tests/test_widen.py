"""Growing a trained model — wider local-pixel taps, an added bicubic skip — keeps its function
and makes the new part trainable."""

import pytest
import torch

from hinr import HINR, preset
from hinr.coords import cell_size
from hinr.models.bicubic import pil_bicubic
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


@pytest.mark.parametrize("arch", ["liif", "hybrid"])
def test_adding_the_base_skip_keeps_the_function_and_then_learns(arch):
    from hinr.widen import add_base_skip

    torch.manual_seed(0)
    options = {} if arch == "liif" else dict(readout="local", decoder_depth=2)
    model = HINR(preset("tiny", arch=arch, **options)).eval()
    grown = add_base_skip(model)
    assert grown.config.base_skip and not model.config.base_skip
    images = torch.rand(2, 3, 32, 32)
    coords = torch.rand(2, 50, 2)
    with torch.no_grad():
        torch.testing.assert_close(grown(images, coords), model(images, coords), rtol=0, atol=1e-6)
    # the skip weight starts at 0 but gets a gradient, and at 1 it adds the bicubic base
    grown.train()
    grown(images, coords).square().mean().backward()
    assert grown.base_skip.grad.abs().min() > 0
    with torch.no_grad():
        grown.base_skip.fill_(1.0)
        base = pil_bicubic(images, coords, cell_size(32, 32))
        torch.testing.assert_close(grown(images, coords) - model(images, coords), base - 0.5)
    with pytest.raises(ValueError, match="already adds"):
        add_base_skip(grown)


def test_base_skip_and_residual_exclude_each_other():
    with pytest.raises(ValueError, match="choose one"):
        preset("tiny", residual=True, base_skip=True)
    assert preset("tiny").base_skip is False  # old configs load without the skip
