"""SCENT's cascaded Perceiver encoder: per-pixel RGB ⊕ Gaussian Fourier features of the pixel
coordinate, cross-attended into fixed sinusoidal latents by a cascade of blocks; each block starts
from its own initial latents plus a projection of the previous block's output.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from ..coords import pixel_centres
from ..layers.attention import Attention
from ..layers.computed import computed
from ..layers.feedforward import FeedForward
from ..layers.fourier import GaussianFourierFeatures


def sinusoidal_latents(num: int, dim: int) -> torch.Tensor:
    """The transformer's 1D sinusoidal table (num, dim), SCENT's fixed initial latents."""
    pos = torch.arange(num, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class PerceiverBlock(nn.Module):
    def __init__(self, *, dim: int, context_dim: int, num_latents: int, heads: int, dim_head: int,
                 ff_mult: int, cascade: bool) -> None:
        super().__init__()
        self.register_buffer("initial_latents", computed(
            (num_latents, dim), lambda: sinusoidal_latents(num_latents, dim)), persistent=False)
        self.prev_proj = nn.Linear(dim, dim) if cascade else None
        self.cross_norm = nn.LayerNorm(dim)
        self.context_norm = nn.LayerNorm(context_dim)
        self.cross_attn = Attention(query_dim=dim, context_dim=context_dim, heads=heads, dim_head=dim_head)
        self.cross_ff_norm = nn.LayerNorm(dim)
        self.cross_ff = FeedForward(dim=dim, mult=ff_mult)
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = Attention(query_dim=dim, heads=heads, dim_head=dim_head)
        self.self_ff_norm = nn.LayerNorm(dim)
        self.self_ff = FeedForward(dim=dim, mult=ff_mult)

    def forward(self, pixels: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """pixels (B, P, C); previous latents (B, M, D) or None → latents (B, M, D)."""
        x = self.initial_latents.to(pixels.dtype).expand(pixels.shape[0], -1, -1)
        if self.prev_proj is not None and previous is not None:
            x = x + self.prev_proj(previous)
        x = x + self.cross_attn(self.cross_norm(x), self.context_norm(pixels))
        x = x + self.cross_ff(self.cross_ff_norm(x))
        x = x + self.self_attn(self.self_norm(x))
        return x + self.self_ff(self.self_ff_norm(x))


class PerceiverEncoder(nn.Module):
    def __init__(self, *, image_size: int, dim: int, num_latents: int, blocks: int,
                 fourier_features: int, fourier_scale: float, heads: int, dim_head: int,
                 ff_mult: int) -> None:
        super().__init__()
        self.fourier = GaussianFourierFeatures(features=fourier_features, scale=fourier_scale, seed=1)
        self.register_buffer("pixel_coords", computed(
            (image_size * image_size, 2), lambda: pixel_centres(image_size, image_size)), persistent=False)
        context_dim = 3 + self.fourier.out_dim
        self.blocks = nn.ModuleList(
            PerceiverBlock(dim=dim, context_dim=context_dim, num_latents=num_latents, heads=heads,
                           dim_head=dim_head, ff_mult=ff_mult, cascade=i > 0)
            for i in range(blocks))
        self.norm = nn.LayerNorm(dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [-1, 1] → latents (B, M, D)."""
        rgb = rearrange(images, "b c h w -> b (h w) c")
        pos = self.fourier(self.pixel_coords.to(rgb.dtype)).expand(rgb.shape[0], -1, -1)
        pixels = torch.cat([rgb, pos], dim=-1)
        latents = None
        for block in self.blocks:
            latents = block(pixels, latents)
        return self.norm(latents)
