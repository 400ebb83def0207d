"""MAMBA-GINR's patch tokenizer: 2×2 patches → Linear(12 → dim − 32) ⊕ a fixed 32-d grid code."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ..layers.computed import computed
from ..layers.fourier import grid_position_code

POSITION_DIMS = 32


class PatchEmbed(nn.Module):
    def __init__(self, *, image_size: int, patch_size: int, dim: int, channels: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        side = image_size // patch_size
        self.proj = nn.Linear(channels * patch_size * patch_size, dim - POSITION_DIMS)
        self.register_buffer("position_code", computed((side * side, POSITION_DIMS),
                             lambda: grid_position_code(side, POSITION_DIMS)), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] → patch tokens (B, L, dim), row-major over the grid."""
        p = self.patch_size
        patches = rearrange(images, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)
        tokens = self.proj(patches)
        pos = self.position_code.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        return torch.cat([tokens, pos], dim=-1)
