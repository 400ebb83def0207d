"""What ``HINR.encode`` makes and every decoder reads: the latent tokens and the input they came
from (kept for the options that read the input's pixels: the bicubic base, the pixel taps, the
local read-out's grid)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Latents:
    """What ``encode`` makes: the latent tokens and the input they came from (the residual and
    local-pixel options decode from it)."""

    tokens: torch.Tensor  # (B, M, D)
    images: torch.Tensor  # (B, 3, S, S) in [0, 1]

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, index) -> "Latents":
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Latents(self.tokens[index], self.images[index])

    def to(self, *args, **kwargs) -> "Latents":
        return Latents(self.tokens.to(*args, **kwargs), self.images.to(*args, **kwargs))
