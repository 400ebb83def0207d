"""The grid score: how strongly an upscaled image carries a pattern locked to its input's pixel
grid — the blocky look that PSNR does not see.

For an image upscaled k× from its input, every output column has a phase (column mod k) within
its input pixel. Take the mean |horizontal difference| between neighbouring columns per phase,
and the mean |vertical difference| between neighbouring rows per phase; average the two profiles
phase by phase; the score is the largest phase mean over the smallest. A picture with no pattern
tied to the input grid scores 1.0 (a photo's own ground truth: about 1.0); interpolation that
is smooth between input samples and kinks at them scores higher.

Accumulate with ``PhaseProfile`` over many images (sums, not per-image ratios, so flat images do
not dominate), then read ``score``.
"""

from __future__ import annotations

import math

import torch


class PhaseProfile:
    """Running per-phase sums of |gradient| for one scale k ≥ 2."""

    def __init__(self, scale: int) -> None:
        if scale < 2:
            raise ValueError("the grid score needs an upscale factor of at least 2")
        self.scale = scale
        self.sums = torch.zeros(2, scale, dtype=torch.float64)
        self.counts = torch.zeros(2, scale, dtype=torch.float64)

    def add(self, images: torch.Tensor) -> None:
        """images (B, C, H, W) or (C, H, W), upscaled k× from the input grid, any range."""
        x = images.double()
        if x.ndim == 3:
            x = x.unsqueeze(0)
        k = self.scale
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs()  # (B, C, H, W−1): gap after column j
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs()  # (B, C, H−1, W): gap after row i
        for axis, (gaps, n) in enumerate(((dx.sum(dim=(0, 1, 2)), dx[..., 0].numel()),
                                          (dy.sum(dim=(0, 1, 3)), dy[..., 0, :].numel()))):
            phase = torch.arange(gaps.shape[0]) % k
            self.sums[axis].index_add_(0, phase, gaps)
            self.counts[axis].index_add_(0, phase, torch.full_like(gaps, float(n)))

    @property
    def profile(self) -> torch.Tensor:
        """Mean |gradient| per phase, horizontal and vertical averaged, (k,)."""
        return (self.sums / self.counts.clamp(min=1)).mean(dim=0)

    @property
    def score(self) -> float:
        p = self.profile
        low = float(p.min())
        return float(p.max()) / low if low > 0 else math.inf


def grid_score(images: torch.Tensor, scale: int) -> float:
    """The grid score of images (B, C, H, W) upscaled ``scale``× (see the module docstring)."""
    profile = PhaseProfile(scale)
    profile.add(images)
    return profile.score
