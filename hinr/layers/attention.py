"""Multi-head attention in the perceiver-pytorch style (to_q / to_kv / to_out) over SDPA.

One module serves self-attention (no context) and cross-attention (queries attend to a context),
with an optional additive logit bias: a dense tensor, or a ``SeparableBias`` (the 2D locality bias
of hinr's decoder option), which is folded into the queries and keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .separable_bias import SeparableBias


class Attention(nn.Module):
    def __init__(self, *, query_dim: int, context_dim: int | None = None, heads: int = 8,
                 dim_head: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dropout = dropout
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_kv = nn.Linear(context_dim or query_dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, query_dim)

    def project_context(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of a context, (B, M, C) → two (B, H, M, d); cacheable across chunks."""
        k, v = self.to_kv(context).chunk(2, dim=-1)
        split = "b m (h d) -> b h m d"
        return rearrange(k, split, h=self.heads), rearrange(v, split, h=self.heads)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, *,
                kv: tuple[torch.Tensor, torch.Tensor] | None = None,
                bias: torch.Tensor | SeparableBias | None = None) -> torch.Tensor:
        """x (B, Q, query_dim); context (B, M, context_dim) or precomputed ``kv``;
        bias broadcastable to (B, H, Q, M), or separable. Returns (B, Q, query_dim)."""
        if kv is None:
            kv = self.project_context(x if context is None else context)
        k, v = kv
        q = rearrange(self.to_q(x), "b q (h d) -> b h q d", h=self.heads)
        dropout = self.dropout if self.training else 0.0
        if isinstance(bias, SeparableBias):  # casts k and v itself (to fp32 under bf16)
            out = bias.attend(q, k, v, dropout_p=dropout)
        else:
            out = F.scaled_dot_product_attention(
                q, k.to(q.dtype), v.to(q.dtype), attn_mask=None if bias is None else bias.to(q.dtype),
                dropout_p=dropout)
        return self.to_out(rearrange(out, "b h q d -> b q (h d)"))
