"""SCENT's decoder: Gaussian Fourier features of the query → cross-attention to the latents →
stacked pre-norm GEGLU feed-forwards (optionally query self-attention) → skip connection adding
the query encoding → linear projection to RGB.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.attention import Attention
from ..layers.feedforward import FeedForward
from ..layers.fourier import GaussianFourierFeatures
from .locality import LocalityBias
from .query_extras import AttentionReadout, QueryExtras
from .processor import SelfAttentionBlock


class PreNormFeedForward(nn.Module):
    def __init__(self, *, dim: int, mult: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = FeedForward(dim=dim, mult=mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, Q, D) → x + FF(LN(x)), (B, Q, D)."""
        return x + self.ff(self.norm(x))


class ScentDecoder(AttentionReadout):
    def __init__(self, *, context_dim: int, extras: QueryExtras | None, dim: int, depth: int,
                 heads: int, dim_head: int, ff_mult: int, self_attn: int, fourier_features: int,
                 fourier_scale: float, locality_grid: int | None) -> None:
        super().__init__()
        self.extras = extras  # the query's inputs past its Fourier encoding (no parameters)
        self.fourier = GaussianFourierFeatures(features=fourier_features, scale=fourier_scale)
        in_dim = self.fourier.out_dim + (extras.out_dim if extras is not None else 0)
        # the design feeds the Fourier encoding straight in; project only when widths differ
        self.query_proj = nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim)
        self.query_norm = nn.LayerNorm(dim)
        self.context_norm = nn.LayerNorm(context_dim)
        self.cross_attn = Attention(query_dim=dim, context_dim=context_dim, heads=heads, dim_head=dim_head)
        self.locality = LocalityBias(heads=heads, side=locality_grid) if locality_grid else None
        self.self_attn = nn.ModuleList(
            SelfAttentionBlock(dim=dim, heads=heads, dim_head=dim_head, ff_mult=ff_mult)
            for _ in range(self_attn))
        self.ffs = nn.ModuleList(PreNormFeedForward(dim=dim, mult=ff_mult) for _ in range(depth))
        self.out_norm = nn.LayerNorm(dim)
        self.to_rgb = nn.Linear(dim, 3)

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, context,
                base: torch.Tensor | None = None) -> torch.Tensor:
        """coords (B, Q, 2); cell (B, Q, 2); context from ``prepare``; base (B, Q, 3), the
        bicubic value at each query (for the pixel taps) → RGB (B, Q, 3)."""
        kv, q, bias = self.query_inputs(self.fourier, coords, cell, context, base)
        q = self.query_proj(q)
        h = self.cross_attn(self.query_norm(q), kv=kv, bias=bias)
        for block in self.self_attn:
            h = block(h)
        for ff in self.ffs:
            h = ff(h)
        return self.to_rgb(self.out_norm(h + q))
