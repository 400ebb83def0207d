"""How to render, as one value: the queries decoded at once, the tiles encoded at once, the tile
stride, the decoder's precision and the self-ensemble. The CLI builds it once from its options
(``hinr upscale``, ``hinr serve``, ``hinr eval --benchmark``), hands it on whole, and gives it to
``upscale_image`` as its keyword arguments (``**options.kwargs()``)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from ..config import DEFAULT_CHUNK, DEFAULT_STRIDE, INPUT_SIZE
from .ensemble import transforms
from .tiling import check_stride


@dataclass(frozen=True)
class RenderOptions:
    chunk: int = DEFAULT_CHUNK  # queries decoded at once per image (bounds memory)
    batch_size: int = 16  # 32×32 tiles encoded at once
    stride: int = DEFAULT_STRIDE  # input px between tile starts
    precision: str | torch.dtype = "fp32"  # 'auto' | 'fp32' | 'bf16', or a resolved dtype
    ensemble: int = 1  # flipped/rotated passes averaged: 1, 2, 4 or 8

    def __post_init__(self) -> None:
        if self.chunk < 1 or self.batch_size < 1:
            raise ValueError(f"chunk and batch_size must be positive, got {self.chunk}, {self.batch_size}")
        check_stride(self.stride, tile=INPUT_SIZE)
        transforms(self.ensemble)

    def with_chunk(self, chunk: int) -> "RenderOptions":
        """The same options with another chunk (the memory check may lower it)."""
        return replace(self, chunk=chunk)

    def kwargs(self) -> dict:
        """The options as ``upscale_image``'s keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
