"""SCENT's processor over a latent grid of any size: its pre-norm self-attention + GEGLU blocks,
each attending within windows of w × w latents (Swin's windows), every other block's windows
offset by half a window so that neighbouring windows exchange, and a learned bias per relative
position and head (Swin's relative position bias: the latents carry no position of their own).

Windows past the grid's edge are padded; the padded latents are masked out as keys, so a latent's
output depends only on real latents, and the grid's size is free (a whole photo at once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..layers.attention import Attention
from ..layers.computed import computed
from ..layers.feedforward import FeedForward

MASKED = -1e4  # the logit bias of a padded key: exp() of it is 0 in fp32 and bf16


def relative_index(window: int) -> torch.Tensor:
    """(w², w²): for each query and key of a w × w window, row-major, the index of their relative
    position (dy, dx) in the (2w − 1)² table of biases."""
    pos = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"), -1)
    pos = rearrange(pos, "h w c -> (h w) c")
    delta = pos[:, None, :] - pos[None, :, :] + window - 1  # (w², w², 2) in [0, 2w − 2]
    return delta[..., 0] * (2 * window - 1) + delta[..., 1]


class WindowBlock(nn.Module):
    """[LayerNorm → windowed self-attention, residual; LayerNorm → GEGLU, residual]."""

    def __init__(self, *, dim: int, heads: int, dim_head: int, ff_mult: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(query_dim=dim, heads=heads, dim_head=dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim=dim, mult=ff_mult)
        # zero: the blocks start as plain attention and learn which offsets matter
        self.relative_bias = nn.Parameter(torch.zeros(heads, (2 * window - 1) ** 2))
        self.register_buffer("relative_index", computed(
            (window**2, window**2), lambda: relative_index(window), dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, shift: int) -> torch.Tensor:
        """x (B, h, w, D), windows offset by ``shift`` latents → (B, h, w, D)."""
        b, h, w, _ = x.shape
        n = self.window
        pad_top, pad_left = shift, shift
        pad_bottom, pad_right = -(h + shift) % n, -(w + shift) % n
        valid = x.new_ones(1, h, w, 1)
        windows = lambda t: rearrange(  # noqa: E731 — the one layout, used three times
            F.pad(t, (0, 0, pad_left, pad_right, pad_top, pad_bottom)),
            "b (i p) (j q) d -> (b i j) (p q) d", p=n, q=n)
        keys_valid = windows(valid)  # (nW, w², 1), 1 where the key is a real latent
        mask = (1.0 - rearrange(keys_valid, "m k 1 -> m 1 1 k")) * MASKED
        bias = self.relative_bias[:, self.relative_index]  # (H, w², w²)
        mask = (mask + bias).repeat(b, 1, 1, 1)  # (B·nW, H, w², w²)
        y = self.attn(windows(self.norm1(x)), bias=mask)
        y = rearrange(y, "(b i j) (p q) d -> b (i p) (j q) d", b=b, i=(h + pad_top + pad_bottom) // n, p=n, q=n)
        x = x + y[:, pad_top:pad_top + h, pad_left:pad_left + w]
        return x + self.ff(self.norm2(x))


class WindowProcessor(nn.Module):
    def __init__(self, *, dim: int, depth: int, heads: int, dim_head: int, ff_mult: int,
                 window: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            WindowBlock(dim=dim, heads=heads, dim_head=dim_head, ff_mult=ff_mult, window=window)
            for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (B, h, w, D) → (B, h, w, D)."""
        for index, block in enumerate(self.blocks):
            latents = block(latents, shift=(block.window // 2) * (index % 2))
        return self.norm(latents)
