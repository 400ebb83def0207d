"""2D locality (a decoder option beyond the design): each latent token owns one cell of a G×G grid
over the image (the 256 LP tokens ↔ the 16×16 patch grid, row-major), and a query's
cross-attention logits get −α_h·‖q − p‖² / cell² — LAINR's 1D locality bias made 2D, with a
learnable α per head.

The bias is separable (‖q − p‖² = ‖q‖² − 2q·p + ‖p‖², and ‖q‖² is the same for every latent so
softmax ignores it), so it is handed to the attention as a ``SeparableBias`` and never built as a
(B, H, Q, M) tensor; ``dense`` is the direct form, kept as the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..coords import pixel_centres
from ..layers.computed import computed
from ..layers.separable_bias import SeparableBias


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
        self.register_buffer("positions", computed((side * side, 2), lambda: pixel_centres(side, side)),
                             persistent=False)
        # α = softplus(raw) stays positive; init so that one cell away costs init_alpha in logits
        raw = math.log(math.expm1(init_alpha))
        self.alpha = nn.Parameter(torch.full((heads,), raw))

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        """α_h · side², the logit cost per squared unit of [0, 1] distance, (H,)."""
        return F.softplus(self.alpha.to(dtype)) * self.side**2

    def dense(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, Q, 2) → additive logit bias −α_h·‖q − p‖²/cell², (B, H, Q, M), in fp32
        (fp64 for fp64 coordinates)."""
        dtype = _at_least_fp32(coords.dtype)
        dist2 = torch.cdist(coords.to(dtype), self.positions.to(dtype).unsqueeze(0)).pow(2)
        return -self.weight(dtype).view(1, -1, 1, 1) * dist2.unsqueeze(1)

    def forward(self, coords: torch.Tensor) -> SeparableBias:
        """coords (B, Q, 2) → the bias in factored form: query factors (B, H, Q, 3) and key
        factors (1, M, 3) whose product is ``dense(coords)`` plus a per-query constant."""
        dtype = _at_least_fp32(coords.dtype)
        centred = coords.to(dtype) - 0.5  # smaller factors, so less rounding in the product
        positions = self.positions.to(dtype) - 0.5
        ones = torch.ones_like(centred[..., :1])
        factors = torch.cat([2.0 * centred, -ones], dim=-1).unsqueeze(1)  # (B, 1, Q, 3)
        query = self.weight(dtype).view(1, -1, 1, 1) * factors
        key = torch.cat([positions, positions.pow(2).sum(-1, keepdim=True)], dim=-1).unsqueeze(0)
        return SeparableBias(query=query, key=key)


def _at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)
