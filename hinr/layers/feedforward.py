"""Feed-forward layers: SCENT's GEGLU feed-forward and MAMBA-GINR's GELU MLP."""

from __future__ import annotations

import torch
from torch import nn

from .fused import geglu, linear_geglu


class GEGLU(nn.Module):
    """Gated GELU: split the last dim in two halves, value · gelu(gate)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., 2n) → (..., n)."""
        return geglu(x)


class FeedForward(nn.Module):
    """GEGLU feed-forward dim → mult·dim (gated) → dim, as in perceiver-pytorch / SCENT."""

    def __init__(self, *, dim: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = dim * mult
        self.net = nn.Sequential(
            nn.Linear(dim, hidden * 2), GEGLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., dim) → (..., dim); the first layer and the GEGLU as one fused op at inference
        (``hinr.layers.fused``)."""
        first, _, dropout, last = self.net
        return last(dropout(linear_geglu(x, first)))


class MLP(nn.Module):
    """Two-layer GELU MLP dim → hidden_dim → dim (MAMBA-GINR's per-block MLP)."""

    def __init__(self, *, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., dim) → (..., dim)."""
        return self.net(x)
