"""PSNR and SSIM against closed forms and a plain numpy reference of Wang et al.'s SSIM."""

import math

import numpy as np
import pytest
import torch

from hinr.evaluation.metrics import gaussian_window, luma, psnr, ssim


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W) float64 luma images, written out position by position: the 11×11 Gaussian
    window (σ 1.5) at every place it fits, population statistics, K1 0.01, K2 0.03, range 1."""
    r = np.arange(11) - 5
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    w = g / g.sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            x, y = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
            cxy = (w * (x - mx) * (y - my)).sum()
            values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def to_luma(image: torch.Tensor) -> np.ndarray:
    r, g, b = image.double().numpy()
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_psnr_closed_form_and_identity():
    target = torch.full((2, 3, 8, 8), 0.5)
    pred = target.clone()
    pred[0] += 0.1  # MSE 0.01 → 20 dB
    pred[1, 0] += 0.3  # one channel of three off by 0.3: MSE 0.03 → 15.23 dB
    values = psnr(pred, target)
    assert values.dtype == torch.float64 and values.shape == (2,)
    assert values[0].item() == pytest.approx(20.0, abs=1e-5)
    assert values[1].item() == pytest.approx(-10 * math.log10(0.03), abs=1e-5)
    assert psnr(target[0], target[0]).item() == math.inf  # (3, H, W) works too


def test_ssim_of_identical_images_is_one():
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(ssim(images, images), torch.ones(3, dtype=torch.float64))


def test_ssim_of_flat_images_is_the_luminance_term():
    # no variance anywhere: SSIM = (2ab + C1) / (a² + b² + C1), worked by hand for a=0.2, b=0.6
    a = torch.full((3, 16, 16), 0.2, dtype=torch.float64)
    b = torch.full((3, 16, 16), 0.6, dtype=torch.float64)
    expected = (2 * 0.2 * 0.6 + 1e-4) / (0.04 + 0.36 + 1e-4)  # 0.24010 / 0.40010 = 0.600100
    assert ssim(a, b).item() == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.600100, abs=1e-6)


def test_ssim_matches_the_numpy_reference():
    gen = torch.Generator().manual_seed(1)
    clean = torch.rand(2, 3, 24, 28, generator=gen)
    noisy = (clean + 0.1 * torch.randn(2, 3, 24, 28, generator=gen)).clamp(0, 1)
    values = ssim(noisy, clean)
    for k in range(2):
        expected = reference_ssim(to_luma(noisy[k]), to_luma(clean[k]))
        assert values[k].item() == pytest.approx(expected, abs=1e-10)
    assert 0.0 < values.min() < values.max() < 1.0


def test_ssim_is_symmetric_and_uses_luma():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(1, 3, 20, 20, generator=gen), torch.rand(1, 3, 20, 20, generator=gen)
    assert ssim(x, y).item() == pytest.approx(ssim(y, x).item(), abs=1e-12)
    # pure red, green and blue have the BT.601 weights as their luma
    primaries = torch.eye(3).reshape(3, 3, 1, 1).double()
    assert luma(primaries).flatten().tolist() == pytest.approx([0.299, 0.587, 0.114])


def test_gaussian_window():
    taps = gaussian_window()
    assert taps.shape == (11,) and taps.sum().item() == pytest.approx(1.0)
    assert torch.equal(taps, taps.flip(0)) and taps.argmax().item() == 5


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9))
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.rand(3, 8, 8), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="RGB"):
        psnr(torch.rand(1, 8, 8), torch.rand(1, 8, 8))
