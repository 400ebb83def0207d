"""2D locality (a decoder option beyond the design): each latent token owns one cell of a G×G grid
over the image (the 256 LP tokens ↔ the 16×16 patch grid, row-major), and a query's
cross-attention logits get −α_h·‖q − p‖² / cell² — LAINR's 1D locality bias made 2D, with a
learnable α per head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..coords import pixel_centres


def cell_offset(coords: torch.Tensor, side: int) -> torch.Tensor:
    """A query's offset from the centre of the grid cell that holds it, in cells.

    coords (B, Q, 2) in [0, 1] → (B, Q, 2) in [−0.5, 0.5).
    """
    scaled = coords * side
    return scaled - torch.floor(scaled).clamp(0, side - 1) - 0.5


class LocalityBias(nn.Module):
    def __init__(self, *, heads: int, side: int, init_alpha: float = 1.0) -> None:
        super().__init__()
        self.side = side
        self.register_buffer("positions", pixel_centres(side, side), persistent=False)
        # α = softplus(raw) stays positive; init so that one cell away costs init_alpha in logits
        raw = torch.log(torch.expm1(torch.tensor(init_alpha)))
        self.alpha = nn.Parameter(raw.repeat(heads))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, Q, 2) → additive logit bias (B, H, Q, M)."""
        dist2 = torch.cdist(coords.float(), self.positions.float().unsqueeze(0)).pow(2) * self.side**2
        alpha = F.softplus(self.alpha).float()
        return -alpha.view(1, -1, 1, 1) * dist2.unsqueeze(1)
