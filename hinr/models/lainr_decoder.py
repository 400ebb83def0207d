"""The LAINR-style multi-band modulation decoder of pure MAMBA-GINR.

The query's sinusoidal encoding cross-attends to the latents to give a modulation vector; each
frequency band k (highest frequency σ_k, fine to coarse) then computes
h_k = ReLU(Linear(γ_k)), m_k = ReLU(h_k + Linear(modulation)), chains the bands as
h_i = ReLU(Linear(m_i + h_{i−1})), and the output is Σ_i Linear_i(h_i).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.attention import Attention
from ..layers.fourier import LogSpacedSinusoids
from .locality import LocalityBias
from .query_extras import AttentionReadout, QueryExtras


class LainrDecoder(AttentionReadout):
    def __init__(self, *, context_dim: int, extras: QueryExtras | None, hidden: int, heads: int,
                 dim_head: int, bands: tuple[float, ...], query_max_freq: float,
                 freqs_per_band: int, locality_grid: int | None) -> None:
        super().__init__()
        self.extras = extras  # the query's inputs past its Fourier encoding (no parameters)
        self.query_fourier = LogSpacedSinusoids(features=freqs_per_band, low=1.0, high=query_max_freq)
        extra_dim = extras.out_dim if extras is not None else 0
        self.query_in = nn.Linear(self.query_fourier.out_dim + extra_dim, hidden)
        self.context_norm = nn.LayerNorm(context_dim)
        self.cross_attn = Attention(query_dim=hidden, context_dim=context_dim, heads=heads, dim_head=dim_head)
        self.locality = LocalityBias(heads=heads, side=locality_grid) if locality_grid else None
        self.band_fourier = nn.ModuleList(
            LogSpacedSinusoids(features=freqs_per_band, low=1.0, high=s) for s in bands)
        self.band_in = nn.ModuleList(nn.Linear(f.out_dim, hidden) for f in self.band_fourier)
        self.band_mod = nn.ModuleList(nn.Linear(hidden, hidden) for _ in bands)
        self.band_chain = nn.ModuleList(nn.Linear(hidden, hidden) for _ in bands[1:])
        self.band_out = nn.ModuleList(nn.Linear(hidden, 3) for _ in bands)

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, context,
                base: torch.Tensor | None = None) -> torch.Tensor:
        """coords (B, Q, 2); cell (B, Q, 2); context from ``prepare``; base (B, Q, 3), the
        bicubic value at each query (for the pixel taps) → RGB (B, Q, 3)."""
        kv, q, bias = self.query_inputs(self.query_fourier, coords, cell, context, base)
        modulation = self.cross_attn(F.relu(self.query_in(q)), kv=kv, bias=bias)
        out, h = 0.0, None
        for i, fourier in enumerate(self.band_fourier):
            m = F.relu(F.relu(self.band_in[i](fourier(coords))) + self.band_mod[i](modulation))
            h = m if h is None else F.relu(self.band_chain[i - 1](m + h))
            out = out + self.band_out[i](h)
        return out
