"""What a decoder may learn about a query besides its coordinate encoding — the switchable
options past the design:

- ``locality``: the query's offset from the centre of its latent cell (2 dims);
- ``cell_input``: the output pixel's size in input pixels (LIIF's cell decoding, 2 dims);
- ``local_pixels = k``: the k×k input pixels around the query, relative to the bicubic value
  there, and the query's sub-pixel position (3·k² + 2 dims).
"""

from __future__ import annotations

import torch
from einops import repeat
from torch import nn

from ..layers.bicubic import pixel_neighbourhood
from .locality import cell_offset


class QueryExtras(nn.Module):
    def __init__(self, *, image_size: int, latent_grid: int, locality: bool, cell_input: bool,
                 local_pixels: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.latent_grid = latent_grid
        self.locality = locality
        self.cell_input = cell_input
        self.local_pixels = local_pixels
        self.slices = self.layout(locality=locality, cell_input=cell_input, local_pixels=local_pixels)
        self.out_dim = max((s.stop for s in self.slices.values()), default=0)

    @staticmethod
    def layout(*, locality: bool, cell_input: bool, local_pixels: int) -> dict[str, slice]:
        """Where each input sits in the extras vector, in order: ``offset`` (locality), ``cell``,
        ``taps`` (k×k pixels, laid out (row, column, channel)), ``subpixel`` (local pixels)."""
        widths = {"offset": 2 * locality, "cell": 2 * cell_input,
                  "taps": 3 * local_pixels**2, "subpixel": 2 if local_pixels else 0}
        out, start = {}, 0
        for name, width in widths.items():
            if width:
                out[name] = slice(start, start + width)
                start += width
        return out

    @property
    def needs_base(self) -> bool:
        """Whether ``forward`` needs the bicubic value at the query (the taps are relative to it)."""
        return bool(self.local_pixels)

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, images: torch.Tensor,
                base: torch.Tensor) -> torch.Tensor | None:
        """coords (B, Q, 2); cell (B, 2) or (B, Q, 2); images (B, 3, h, w) in [0, 1]; base (B, Q, 3) the
        bicubic value at each query. Returns (B, Q, out_dim), or None when no option is on."""
        parts = []
        if self.locality:
            parts.append(cell_offset(coords, self.latent_grid) * 2.0)
        if self.cell_input:
            if cell.ndim == 2:
                cell = repeat(cell, "b t -> b q t", q=coords.shape[1])
            parts.append(cell * self.image_size)
        if self.local_pixels:
            k = self.local_pixels
            pixels, frac = pixel_neighbourhood(images, coords, k)
            relative = pixels - base.repeat(1, 1, k * k)  # both laid out (pixel, channel)
            parts += [relative * 4.0, frac * 2.0 - 1.0]  # ~unit scale for natural images
        if not parts:
            return None
        return torch.cat([p.to(coords.dtype) for p in parts], dim=-1)


class AttentionReadout(nn.Module):
    """What the attention decoders (SCENT's, LAINR's) share: the decoder interface around their
    cross-attention (``prepare(latents) → (keys and values, images)``), and the query extras
    computed from the context. A subclass sets ``extras``, ``context_norm`` and ``cross_attn``."""

    extras: QueryExtras | None

    @property
    def needs_base(self) -> bool:
        """Whether ``forward`` reads the bicubic value at the query (for the pixel taps)."""
        return self.extras is not None and self.extras.needs_base

    def start_as_residual(self) -> float:
        """A residual model starts as exactly its base: here through a closed gate (returned)."""
        return 0.0

    def prepare(self, latents):
        """(keys and values of the latents (B, M, D), computed once per image for all queries;
        the images, for the query extras)."""
        kv = self.cross_attn.project_context(self.context_norm(latents.tokens))
        return kv, latents.images.float()

    def query_extras(self, coords: torch.Tensor, cell: torch.Tensor, context,
                     base: torch.Tensor | None) -> tuple:
        """(keys and values, the extras (B, Q, E) or None) for ``forward``; the extras stay fp32
        under autocast (the pixel taps are exact values)."""
        kv, images = context
        if self.extras is None:
            return kv, None
        with torch.autocast(coords.device.type, enabled=False):
            return kv, self.extras(coords, cell, images, base)

    def query_inputs(self, fourier: nn.Module, coords: torch.Tensor, cell: torch.Tensor, context,
                     base: torch.Tensor | None) -> tuple:
        """What every attention read-out starts from: (keys and values; the query's encoding,
        ``fourier(coords)`` ⊕ the extras, (B, Q, F'); the locality bias or None). A subclass
        sets ``locality`` too."""
        kv, extras = self.query_extras(coords, cell, context, base)
        q = fourier(coords)
        if extras is not None:
            q = torch.cat([q, extras.to(q.dtype)], dim=-1)
        bias = self.locality(coords) if self.locality is not None else None
        return kv, q, bias
