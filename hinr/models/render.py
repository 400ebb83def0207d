"""The one renderer: decode latents over a grid of output pixels, a bounded block at a time.

Every path that turns latents into pixels goes through here — ``HINR.render`` (training
validation, ``hinr eval``), ``render_latents`` (``hinr render``) and the tiles of
``upscale_image`` (``hinr upscale``) — so what ``hinr eval`` times is what users run.

The grid is the product of two axes of [0, 1] coordinates (``hinr.coords``), decoded in blocks of
at most ``chunk`` queries per image (whole rows when they fit), so memory is bounded by the chunk,
not the output size; the decoder's per-image context (``HINR.prepare``) is computed once, and a model's bicubic base separably per block. A decoder
with query self-attention cannot be chunked and decodes the whole grid at once. ``precision``
('fp32', 'bf16', 'auto', resolved once by ``hinr.precision.resolve_precision``; ``decode_grid``
takes the resolved dtype) sets the decoder's arithmetic.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from einops import rearrange
from torch import nn

from ..config import DEFAULT_CHUNK
from ..coords import axis_centres, cell_size, grid_coords
from ..layers.bicubic import bicubic_grid
from ..precision import autocast, resolve_precision

from .latents import Latents

Progress = Callable[[int, int], None]  # (queries done, queries in all)


def grid_blocks(rows: int, cols: int, chunk: int) -> Iterator[tuple[int, int, int, int]]:
    """(r0, r1, c0, c1) blocks of at most ``chunk`` queries covering a rows × cols grid."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    if cols <= chunk:
        step = max(1, chunk // cols)
        for r0 in range(0, rows, step):
            yield r0, min(r0 + step, rows), 0, cols
        return
    for r in range(rows):
        for c0 in range(0, cols, chunk):
            yield r, r + 1, c0, min(c0 + chunk, cols)


def decode_grid(model: nn.Module, latents: Latents, xs: torch.Tensor, ys: torch.Tensor,
                cell: torch.Tensor, *, chunk: int = DEFAULT_CHUNK,
                precision: torch.dtype = torch.float32,
                context=None) -> Iterator[tuple[int, int, int, int, torch.Tensor]]:
    """Decode the grid ys (R,) × xs (C,) of [0, 1] coordinates block by block.

    cell (2,) or (B, 2): the output pixel's extent in [0, 1] units. Yields (r0, r1, c0, c1, rgb)
    with rgb (B, 3, r1 − r0, c1 − c0), float32 on the latents' device, unclamped.
    """
    device = latents.tokens.device
    if not model.config.chunkable:
        chunk = len(xs) * len(ys)
    if context is None:
        with autocast(precision, device):
            context = model.prepare(latents)
    xs, ys, cell = xs.to(device), ys.to(device), cell.to(device)
    for r0, r1, c0, c1 in grid_blocks(len(ys), len(xs), chunk):
        coords = grid_coords(xs[c0:c1], ys[r0:r1])
        base = None
        if model.needs_base:  # separably, once per row and column of the block
            base = rearrange(bicubic_grid(latents.images.float(), xs[c0:c1], ys[r0:r1], cell),
                             "b c h w -> b (h w) c")
        with autocast(precision, device):
            rgb = model.decode(latents, coords, cell, context=context, base=base)
        yield r0, r1, c0, c1, rearrange(rgb.float(), "b (h w) c -> b c h w", h=r1 - r0)


@torch.no_grad()
def render_latents(model: nn.Module, latents: Latents, height: int, width: int, *,
                   chunk: int = DEFAULT_CHUNK, precision: str | torch.dtype = "fp32",
                   out_device: torch.device | str | None = "cpu",
                   progress: Progress | None = None) -> torch.Tensor:
    """Render each latent's image at height × width → (B, 3, H, W) in [0, 1].

    The output lives on ``out_device`` (None: the latents' device), preallocated, so a large
    render on a GPU need not fit there. ``progress`` gets (pixels done, pixels in all).
    """
    if height < 1 or width < 1:
        raise ValueError(f"render size must be positive, got {width}x{height}")
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device)
    latents = latents.to(device)
    out = torch.empty(len(latents), 3, height, width, device=out_device or device)
    done = 0
    for r0, r1, c0, c1, rgb in decode_grid(model, latents, axis_centres(width), axis_centres(height),
                                           cell_size(height, width), chunk=chunk,
                                           precision=precision):
        out[:, :, r0:r1, c0:c1] = rgb.clamp(0.0, 1.0).to(out.device)
        done += (r1 - r0) * (c1 - c0)
        if progress is not None:
            progress(done, height * width)
    return out
