"""Fixed coordinate encodings: Gaussian Fourier features (SCENT), log-spaced sin/cos bands
(LAINR / MAMBA-GINR decoder) and the integer-frequency patch-grid code (MAMBA-GINR tokenizer).

All matrices are buffers: fixed, saved with the weights, and moved with the module.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .computed import computed


class GaussianFourierFeatures(nn.Module):
    """γ(c) = [sin(2π c·B), cos(2π c·B)] with B ~ N(0, scale²) of shape (in_dim, F).

    Coordinates are taken in [0, 1] (hinr's convention) and mapped to [-1, 1] first, as SCENT does.
    """

    def __init__(self, *, in_dim: int = 2, features: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("B", computed(
            (in_dim, features), lambda: torch.randn(in_dim, features, generator=gen) * scale))
        self.out_dim = 2 * features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., in_dim) in [0, 1] → (..., 2F), float32.

        The angles reach ~±100 rad, so the projection runs in float32 even under autocast: in
        bfloat16 the features would be off by ~25 %.
        """
        with torch.autocast(coords.device.type, enabled=False):
            proj = (2.0 * math.pi) * ((coords.float() * 2.0 - 1.0) @ self.B.float())
            return torch.cat([proj.sin(), proj.cos()], dim=-1)


class LogSpacedSinusoids(nn.Module):
    """sin/cos(π · c · ω) for ω log-spaced in [low, high] on each coordinate axis (LAINR bands)."""

    def __init__(self, *, in_dim: int = 2, features: int, low: float, high: float) -> None:
        super().__init__()
        self.register_buffer("omega", computed(
            (features,), lambda: torch.logspace(math.log10(low), math.log10(high), features)))
        self.out_dim = 2 * in_dim * features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (..., in_dim) in [0, 1] → (..., 2·in_dim·F), float32 (see above)."""
        with torch.autocast(coords.device.type, enabled=False):
            proj = math.pi * coords.float().unsqueeze(-1) * self.omega.float()
            proj = proj.flatten(-2)
            return torch.cat([proj.sin(), proj.cos()], dim=-1)


def grid_position_code(side: int, dims: int = 32) -> torch.Tensor:
    """The fixed position code of a side×side patch grid, row-major: (side², dims).

    sin/cos(π·k·g) at integer k = 1 … dims/4 for each axis of the grid position g in [0, 1],
    as MAMBA-GINR's tokenizer concatenates to each patch embedding.
    """
    if dims % 4:
        raise ValueError("dims must be a multiple of 4")
    g = torch.linspace(0.0, 1.0, side)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    pos = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)  # (side², 2)
    k = torch.arange(1, dims // 4 + 1, dtype=torch.float32)
    proj = (math.pi * pos.unsqueeze(-1) * k).flatten(-2)  # (side², dims/2)
    return torch.cat([proj.sin(), proj.cos()], dim=-1)
