"""Sampling the 32×32 input at continuous coordinates: a PIL-exact bicubic, and the raw k×k pixel
neighbourhood of a query.

``pil_bicubic`` reproduces ``PIL.Image.resize(..., Image.BICUBIC)`` in floating point: the Keys
kernel with a = −0.5 (torch's bicubic uses a = −0.75), the kernel stretched by the scale factor when
reducing (antialiasing), and taps that fall outside the image dropped with the remaining weights
renormalised (PIL's border handling). Rendering the pixel-centre grid of any H×W through it gives
PIL's resize to within PIL's own uint8 rounding, so a residual decoder starts exactly at the
bicubic baseline users compare against.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

_A = -0.5  # PIL's bicubic coefficient


def _keys_kernel(x: torch.Tensor) -> torch.Tensor:
    x = x.abs()
    near = ((_A + 2.0) * x - (_A + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * _A
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def _axis_taps(centre: torch.Tensor, size: int, filterscale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and normalised weights along one axis.

    centre (B, Q) in input-pixel units (pixel i spans [i, i+1]). Returns indices (B, Q, T), long,
    clamped into the image, and weights (B, Q, T) that are zero for taps outside it.
    """
    support = 2.0 * filterscale
    taps = int(math.ceil(2.0 * support)) + 1
    first = torch.floor(centre - support)
    idx = first.unsqueeze(-1) + torch.arange(taps, device=centre.device, dtype=centre.dtype)
    w = _keys_kernel((idx + 0.5 - centre.unsqueeze(-1)) / filterscale)
    inside = (idx >= 0) & (idx < size)
    w = torch.where(inside, w, torch.zeros_like(w))
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
    return idx.clamp(0, size - 1).long(), w


def _filters(h: int, w: int, cell: torch.Tensor | None) -> tuple[float, float, bool]:
    """PIL's filter scales along x and y for an h×w input sampled with output pixels of ``cell``
    (2,) or (B, 2) — one filter for all, the widest cell sets it — and whether PIL runs its
    vertical pass first (it runs the horizontal one first, unless the height shrinks, and by more
    than the width scales)."""
    if cell is None:
        return 1.0, 1.0, False
    cell = cell.float().reshape(-1, 2)
    cx, cy = float(cell[:, 0].max()), float(cell[:, 1].max())
    out_w, out_h = 1.0 / cx, 1.0 / cy
    return max(cx * w, 1.0), max(cy * h, 1.0), out_h < h and out_h * w < out_w * h


def pil_bicubic(images: torch.Tensor, coords: torch.Tensor,
                cell: torch.Tensor | None = None) -> torch.Tensor:
    """Bicubic samples of ``images`` at ``coords``, matching PIL's resize.

    images (B, C, h, w); coords (B, Q, 2) as (x, y) in [0, 1] at pixel centres; cell (2,) or
    (B, 2): the output pixel's extent in [0, 1] units, which sets PIL's antialiasing when
    reducing (None: no reduction). Pixel values are taken in [0, 1]. Returns (B, Q, C) in the
    images' dtype.
    """
    b, c, h, w = images.shape
    dtype = images.dtype
    coords = coords.float()
    fx, fy, vertical_first = _filters(h, w, cell)
    ix, wx = _axis_taps(coords[..., 0] * w, w, fx)  # (B, Q, Tx)
    iy, wy = _axis_taps(coords[..., 1] * h, h, fy)  # (B, Q, Ty)
    flat_idx = iy.unsqueeze(-1) * w + ix.unsqueeze(-2)  # (B, Q, Ty, Tx)
    q, ty, tx = flat_idx.shape[1:]
    flat = rearrange(images.float(), "b c h w -> b c (h w)")
    gathered = torch.gather(flat, 2, rearrange(flat_idx, "b q ty tx -> b (q ty tx)")
                            .unsqueeze(1).expand(b, c, -1))
    gathered = rearrange(gathered, "b c (q ty tx) -> b q ty tx c", q=q, ty=ty, tx=tx)
    # PIL stores its first pass as uint8, so clip it to the pixel range likewise
    if vertical_first:
        cols = torch.einsum("bqyxc,bqy->bqxc", gathered, wy).clamp(0.0, 1.0)
        return torch.einsum("bqxc,bqx->bqc", cols, wx).to(dtype)
    rows = torch.einsum("bqyxc,bqx->bqyc", gathered, wx).clamp(0.0, 1.0)
    return torch.einsum("bqyc,bqy->bqc", rows, wy).to(dtype)


def bicubic_grid(images: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor,
                 cell: torch.Tensor | None = None) -> torch.Tensor:
    """``pil_bicubic`` over the grid ys (R,) × xs (X,) of [0, 1] coordinates at once → (B, C, R, X).

    The same taps and weights, but each pass runs once per output column or row instead of once
    per query (PIL's own two passes), which makes it about 20× cheaper than per-query sampling on
    an upscale to 1080p: what the grid renderer uses for a model's bicubic base."""
    b, c, h, w = images.shape
    fx, fy, vertical_first = _filters(h, w, cell)
    ix, wx = _axis_taps(xs.float().reshape(1, -1).to(images.device) * w, w, fx)  # (1, X, Tx)
    iy, wy = _axis_taps(ys.float().reshape(1, -1).to(images.device) * h, h, fy)  # (1, R, Ty)
    ix, wx, iy, wy = ix[0], wx[0], iy[0], wy[0]
    lo, hi = (int(iy.min()), int(iy.max()) + 1)  # the input rows these output rows read
    source, iy = images.float()[:, :, lo:hi], iy - lo
    if vertical_first:  # clip the first pass, as PIL stores it in 8 bits
        cols = torch.einsum("bcrtx,rt->bcrx", source[:, :, iy], wy).clamp(0.0, 1.0)  # (B, C, R, w)
        return torch.einsum("bcrxt,xt->bcrx", cols[..., ix], wx).to(images.dtype)
    rows = torch.einsum("bcyxt,xt->bcyx", source[..., ix], wx).clamp(0.0, 1.0)  # (B, C, h', X)
    return torch.einsum("bcrtx,rt->bcrx", rows[:, :, iy], wy).to(images.dtype)


def pixel_neighbourhood(images: torch.Tensor, coords: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k×k input pixels nearest a query, and the query's position among them.

    images (B, C, h, w); coords (B, Q, 2). Returns pixels (B, Q, k·k·C) (edge pixels repeated at
    the border) and frac (B, Q, 2) in [0, 1): the query's offset from the pixel centre just above
    and left of it, in input pixels.
    """
    b, c, h, w = images.shape
    coords = coords.float()
    px = coords[..., 0] * w - 0.5
    py = coords[..., 1] * h - 0.5
    x0, y0 = torch.floor(px), torch.floor(py)
    frac = torch.stack([px - x0, py - y0], dim=-1)
    steps = torch.arange(k, device=images.device, dtype=coords.dtype) - (k // 2 - 1)
    ix = (x0.unsqueeze(-1) + steps).clamp(0, w - 1).long()  # (B, Q, k)
    iy = (y0.unsqueeze(-1) + steps).clamp(0, h - 1).long()
    flat_idx = iy.unsqueeze(-1) * w + ix.unsqueeze(-2)  # (B, Q, k, k)
    q = flat_idx.shape[1]
    flat = rearrange(images, "b c h w -> b c (h w)")
    gathered = torch.gather(flat, 2, rearrange(flat_idx, "b q y x -> b (q y x)")
                            .unsqueeze(1).expand(b, c, -1))
    pixels = rearrange(gathered, "b c (q y x) -> b q (y x c)", q=q, y=k, x=k)
    return pixels, frac.to(images.dtype)
