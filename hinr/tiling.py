"""Cutting an image larger than the model's 32×32 input into overlapping tiles, and the smooth
weights that blend the tiles' renders into one seamless output.

Everything works in continuous coordinates (hinr.coords' pixel-centre convention). Along one axis,
output pixel j of an ``out``-pixel render of an ``n``-pixel input sits at ``u = (j + 0.5)·n/out``
input pixels. A tile of side S (= the model's input size) at offset x0 covers the output pixels
whose centre u lies in [x0, x0 + S); its tile-local coordinate is ``(u − x0)/S`` in [0, 1), which
is what the model decodes, with the output pixel's extent ``(n/out)/S`` as the cell.

Tiles start every ``stride`` pixels and the last one is snapped to the far edge. Each tile weighs
its pixels with a raised-cosine (Hann) window ``sin²(π·t)`` that falls to zero at the tile's edges,
except at an edge that is the image border, where the window stays flat at 1 (nothing else covers
that side). Weights are normalised per axis, so the 2D weights (their outer product) sum to exactly
one at every output pixel, and a single tile (a 32×32 input) has weight 1 everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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
    if not 0 < stride < tile:
        raise ValueError(f"stride must be in 1..{tile - 1}, got {stride}")
    count = math.ceil((length - tile) / stride) + 1
    return [min(i * stride, length - tile) for i in range(count)]


def hann_window(local: torch.Tensor, *, flat_start: bool, flat_end: bool) -> torch.Tensor:
    """sin²(π·t) for t in [0, 1), held at 1 on a half that lies on the image border."""
    weight = torch.sin(math.pi * local.double()).pow(2)
    if flat_start:
        weight = torch.where(local < 0.5, torch.ones_like(weight), weight)
    if flat_end:
        weight = torch.where(local >= 0.5, torch.ones_like(weight), weight)
    return weight


def plan_axis(length: int, out: int, *, tile: int, stride: int) -> list[AxisTile]:
    """The tiles along one axis of ``length`` input px rendered at ``out`` px.

    Raises if the stride leaves an output pixel without weight (it cannot for stride ≤ 3/4 tile).
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
        start, stop = int(inside[0]), int(inside[-1]) + 1
        local = (centres[start:stop] - x0) / tile
        weight = hann_window(local, flat_start=i == 0, flat_end=i == len(offsets) - 1)
        raw.append((x0, start, stop, local, weight))
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
               stride: int = 16) -> TilePlan:
    """Plan the tiles of an H×W input (both ≥ ``tile``) rendered at out_height × out_width."""
    return TilePlan(height=height, width=width, out_height=out_height, out_width=out_width, tile=tile,
                    xs=plan_axis(width, out_width, tile=tile, stride=stride),
                    ys=plan_axis(height, out_height, tile=tile, stride=stride))
