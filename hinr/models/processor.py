"""SCENT's processor: pre-norm self-attention + GEGLU feed-forward blocks over the latents."""

from __future__ import annotations

import torch
from torch import nn

from ..layers.attention import Attention
from ..layers.feedforward import FeedForward


class SelfAttentionBlock(nn.Module):
    def __init__(self, *, dim: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(query_dim=dim, heads=heads, dim_head=dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim=dim, mult=ff_mult)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, M, D) → (B, M, D)."""
        x = x + self.attn(self.norm1(x))
        return x + self.ff(self.norm2(x))


class Processor(nn.Module):
    def __init__(self, *, dim: int, depth: int, heads: int, dim_head: int, ff_mult: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(dim=dim, heads=heads, dim_head=dim_head, ff_mult=ff_mult)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, M, D) → (B, M, D)."""
        for block in self.blocks:
            latents = block(latents)
        return self.norm(latents)
