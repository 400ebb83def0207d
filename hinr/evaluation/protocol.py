"""The scoring protocol of the super-resolution literature's tables (Set5, Set14, B100, Urban100):
PSNR and SSIM on the luma channel, with ``scale`` pixels shaved off every border.

- Luma is ITU-R BT.601 "studio range" as MATLAB's ``rgb2ycbcr``:
  Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], so Y lies in [16, 235];
  it is not rounded to integers.
- PSNR has peak 255 over the shaved luma, one MSE per image; a set's figure is the mean over its
  images.
- SSIM is Wang et al.'s (2004): an 11×11 Gaussian window of σ = 1.5, K1 = 0.01, K2 = 0.03 for data
  range 255, on the same shaved luma, the map kept where the window fits ("valid") and averaged.

Images are (3, H, W) or (B, 3, H, W) in [0, 1]; everything computes in float64.
"""

from __future__ import annotations

import torch

from .metrics import psnr_from_mse, ssim_map

Y_OFFSET = 16.0
Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 on [0, 1] RGB → Y on the 0–255 scale
PEAK = 255.0


def y_channel(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) or (3, H, W) RGB in [0, 1] → (B, 1, H, W) float64 luma in [16, 235]."""
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images (3, H, W) or (B, 3, H, W), got {tuple(images.shape)}")
    weights = torch.tensor(Y_WEIGHTS, dtype=torch.float64, device=images.device)
    return (Y_OFFSET + torch.einsum("bchw,c->bhw", images.double(), weights)).unsqueeze(1)


def shave(images: torch.Tensor, border: int) -> torch.Tensor:
    """(…, H, W) → (…, H − 2·border, W − 2·border): ``border`` pixels off every side."""
    if border < 0:
        raise ValueError(f"the border to shave must be 0 or more, got {border}")
    h, w = images.shape[-2:]
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"a {w}×{h} image has nothing left after shaving {border} px off each border")
    return images[..., border:h - border, border:w - border] if border else images


def _pair(pred: torch.Tensor, target: torch.Tensor, border: int) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    return shave(y_channel(pred), border), shave(y_channel(target), border)


def y_psnr(pred: torch.Tensor, target: torch.Tensor, *, border: int) -> torch.Tensor:
    """Luma PSNR in dB (peak 255) after shaving ``border`` px → (B,) float64; identical: +inf."""
    x, y = _pair(pred, target, border)
    return psnr_from_mse((x - y).square().mean(dim=(1, 2, 3)), peak=PEAK)


def y_ssim(pred: torch.Tensor, target: torch.Tensor, *, border: int) -> torch.Tensor:
    """Luma SSIM (data range 255) after shaving ``border`` px → (B,) float64; identical: 1."""
    x, y = _pair(pred, target, border)
    return ssim_map(x, y, data_range=PEAK).mean(dim=(1, 2, 3))
