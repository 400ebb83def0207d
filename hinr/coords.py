"""The one coordinate convention of hinr, and the grids built on it.

Every coordinate in hinr is an (x, y) pair in [0, 1] over the whole image, x across columns and
y down rows, at **pixel centres**: pixel (row i, column j) of an H×W image sits at
``((j + 0.5) / W, (i + 0.5) / H)``. The same continuous point therefore names the same place in
the image whatever resolution it is rendered at (LIIF's convention).

``torch.nn.functional.grid_sample`` with ``align_corners=False`` uses [-1, 1] over the same
extent, so ``2·c − 1`` converts, and it takes (x, y) order too.
"""

from __future__ import annotations

import torch


def pixel_centres(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates of an H×W grid in row-major order.

    Returns (H·W, 2) with columns (x, y) in (0, 1).
    """
    if height < 1 or width < 1:
        raise ValueError(f"grid size must be positive, got {height}x{width}")
    return grid_coords(axis_centres(width, device=device, dtype=dtype),
                       axis_centres(height, device=device, dtype=dtype))


def cell_size(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The extent of one output pixel in [0, 1] units, as (x, y): shape (2,)."""
    return torch.tensor([1.0 / width, 1.0 / height], device=device, dtype=dtype)


def to_grid_sample(coords: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] pixel-centre coordinates to grid_sample's [-1, 1] (align_corners=False)."""
    return coords * 2.0 - 1.0


def index_centre(index, n: int):
    """The [0, 1] coordinate of the centre of pixel ``index`` of ``n`` along an axis: (i + ½)/n,
    for an int, a numpy array or a tensor of indices alike."""
    return (index + 0.5) / n


def axis_centres(n: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The pixel-centre coordinates of an ``n``-pixel axis, (n,) in (0, 1)."""
    if n < 1:
        raise ValueError(f"grid size must be positive, got {n}")
    return index_centre(torch.arange(n, device=device, dtype=dtype), n)


def grid_coords(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Every (x, y) of the grid ys × xs in row-major order: xs (C,), ys (R,) → (R·C, 2)."""
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)
