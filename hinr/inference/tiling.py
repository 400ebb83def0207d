"""Cutting an image larger than the model's 32×32 input into overlapping tiles, and the smooth
weights that blend the tiles' renders into one seamless output.

Everything works in continuous coordinates (hinr.coords' pixel-centre convention). Along one axis,
output pixel j of an ``out``-pixel render of an ``n``-pixel input sits at ``u = (j + 0.5)·n/out``
input pixels. A tile of side S (= the model's input size) at offset x0 covers the output pixels
whose centre u lies in [x0, x0 + S); its tile-local coordinate is ``(u − x0)/S`` in [0, 1), which
is what the model decodes, with the output pixel's extent ``(n/out)/S`` as the cell.

Tiles start every ``stride`` pixels and the last one is snapped to the far edge. Each tile weighs
its pixels with a flat-topped window: 0 in a ``margin`` at each edge (where the encoder saw the
least context), a raised-cosine ramp ``sin²`` over ``blend`` input pixels, and 1 in between;
at an edge that is the image border the window stays flat at 1 (nothing else covers that side).
With margin = (tile − stride − blend)/2, a tile's ramp down meets its neighbour's ramp up, so
every output pixel is decoded by one tile except in the ``blend``-wide seams (where two tiles
agree smoothly), not by every tile that covers it: with the defaults (stride 24, blend 4) each
pixel is decoded 1.36 times on average, where a window over the whole tile decodes it 1.78 times.
Weights are normalised per axis, so the 2D weights (their outer product) sum to exactly one at
every output pixel, and a single tile (a 32×32 input) has weight 1 everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import DEFAULT_STRIDE


@dataclass(frozen=True)
class AxisTile:
    """One tile's extent along one axis."""

    offset: int  # first input pixel of the tile
    start: int  # first output pixel it covers
    stop: int  # one past the last output pixel it covers
    local: torch.Tensor  # (stop − start,) tile-local coordinates in [0, 1)
    weight: torch.Tensor  # (stop − start,) blend weights, normalised over the axis' tiles


def tile_offsets(length: int, *, tile: int, stride: int) -> list[int]:
    """Offsets of tiles of side ``tile`` every ``stride`` px, the last snapped to ``length − tile``."""
    if length < tile:
        raise ValueError(f"an axis of {length} px is shorter than one {tile} px tile: enlarge it first")
    check_stride(stride, tile=tile)
    count = math.ceil((length - tile) / stride) + 1
    return [min(i * stride, length - tile) for i in range(count)]


DEFAULT_BLEND = 4  # input px over which neighbouring tiles cross-fade


def check_stride(stride: int, *, tile: int) -> None:
    """The one rule for the tile stride: 1 ≤ stride ≤ 3/4 of the tile (else a strong reduction
    can leave output pixels between tiles)."""
    limit = tile * 3 // 4
    if not 1 <= stride <= limit:
        raise ValueError(f"the tile stride must be in 1..{limit} for {tile} px tiles, got {stride}")


def tile_window(local: torch.Tensor, *, tile: int, stride: int, blend: int, flat_start: bool,
                flat_end: bool) -> torch.Tensor:
    """The flat-topped window over tile-local t in [0, 1) (see the module docstring), (N,) fp64."""
    blend = max(1, min(blend, tile - stride))
    margin = (tile - stride - blend) / 2
    u = local.double() * tile  # input px from the tile's start
    rise = ((u - margin) / blend).clamp(0.0, 1.0)
    fall = ((tile - margin - u) / blend).clamp(0.0, 1.0)
    weight = torch.sin(0.5 * math.pi * torch.minimum(rise, fall)).pow(2)
    if flat_start:
        weight = torch.where(local < 0.5, torch.sin(0.5 * math.pi * fall).pow(2), weight)
    if flat_end:
        weight = torch.where(local >= 0.5, torch.sin(0.5 * math.pi * rise).pow(2), weight)
    if flat_start and flat_end:
        weight = torch.ones_like(weight)
    return weight


def plan_axis(length: int, out: int, *, tile: int, stride: int,
              blend: int = DEFAULT_BLEND) -> list[AxisTile]:
    """The tiles along one axis of ``length`` input px rendered at ``out`` px; each tile covers only
    the output pixels its window weighs above zero.

    Raises if the stride leaves an output pixel without weight.
    """
    if out < 1:
        raise ValueError(f"output size must be positive, got {out}")
    centres = (torch.arange(out, dtype=torch.float64) + 0.5) * (length / out)
    offsets = tile_offsets(length, tile=tile, stride=stride)
    raw = []
    for i, x0 in enumerate(offsets):
        inside = ((centres >= x0) & (centres < x0 + tile)).nonzero().flatten()
        if len(inside) == 0:
            continue  # a strong reduction can leave a tile without any output pixel centre
        local = (centres[inside] - x0) / tile
        weight = tile_window(local, tile=tile, stride=stride, blend=blend, flat_start=i == 0,
                             flat_end=i == len(offsets) - 1)
        used = (weight > 0).nonzero().flatten()
        if len(used) == 0:
            continue
        first, last = int(used[0]), int(used[-1]) + 1
        start = int(inside[0]) + first
        raw.append((x0, start, start + last - first, local[first:last], weight[first:last]))
    total = torch.zeros(out, dtype=torch.float64)
    for _, start, stop, _, weight in raw:
        total[start:stop] += weight
    if float(total.min()) <= 1e-6:
        raise ValueError(f"stride {stride} leaves output pixels unweighted: use a smaller stride")
    return [AxisTile(offset=x0, start=start, stop=stop, local=local.float(),
                     weight=(weight / total[start:stop]).float())
            for x0, start, stop, local, weight in raw]


@dataclass(frozen=True)
class TilePlan:
    """All tiles of an H×W input rendered at out_h × out_w: the grid product of the axis plans."""

    height: int
    width: int
    out_height: int
    out_width: int
    tile: int
    xs: list[AxisTile]
    ys: list[AxisTile]

    def __iter__(self):
        """Tiles in row-major order, as (y, x) axis pairs."""
        return ((y, x) for y in self.ys for x in self.xs)

    def __len__(self) -> int:
        return len(self.xs) * len(self.ys)

    @property
    def queries(self) -> int:
        """Output pixels decoded over all tiles (overlaps counted once per tile)."""
        return sum(y.stop - y.start for y in self.ys) * sum(x.stop - x.start for x in self.xs)

    def cell(self) -> torch.Tensor:
        """(2,) the output pixel's extent in tile-local [0, 1] units, as (x, y)."""
        return torch.tensor([self.width / self.out_width / self.tile,
                             self.height / self.out_height / self.tile])

    def crop(self, image: torch.Tensor, y: AxisTile, x: AxisTile) -> torch.Tensor:
        """The input under tile (y, x): image (C, H, W) → (C, tile, tile)."""
        t = self.tile
        return image[:, y.offset:y.offset + t, x.offset:x.offset + t]


def plan_tiles(height: int, width: int, out_height: int, out_width: int, *, tile: int = 32,
               stride: int = DEFAULT_STRIDE, blend: int = DEFAULT_BLEND) -> TilePlan:
    """Plan the tiles of an H×W input (both ≥ ``tile``) rendered at out_height × out_width."""
    check_stride(stride, tile=tile)
    return TilePlan(height=height, width=width, out_height=out_height, out_width=out_width, tile=tile,
                    xs=plan_axis(width, out_width, tile=tile, stride=stride, blend=blend),
                    ys=plan_axis(height, out_height, tile=tile, stride=stride, blend=blend))
