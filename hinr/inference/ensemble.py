"""Self-ensemble: average the model's outputs over flipped and rotated copies of its input (the
eight symmetries of the square, as in EDSR's "+" results), each output turned back before the
average. Costs N passes; what it gains is measured in the README.

The first two transforms (identity, mirror) and the first four (adding the half turn and its
mirror) keep an image's shape; the last four transpose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

ENSEMBLE_SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Dihedral:
    turns: int  # quarter turns (torch.rot90's k)
    mirror: bool  # flip left-right after turning

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """(..., H, W) → the transformed (..., H, W), or (..., W, H) for odd turns."""
        x = torch.rot90(x, self.turns, dims=(-2, -1))
        return x.flip(-1) if self.mirror else x

    def undo(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of ``apply``."""
        x = x.flip(-1) if self.mirror else x
        return torch.rot90(x, -self.turns, dims=(-2, -1))

    def point(self, xy: torch.Tensor) -> torch.Tensor:
        """(..., 2) query points (x, y) in [0, 1] → where ``apply`` moves them (pixel centres stay
        pixel centres)."""
        x, y = xy.unbind(-1)
        for _ in range(self.turns % 4):  # a quarter turn counter-clockwise: (x, y) → (y, 1 − x)
            x, y = y, 1 - x
        if self.mirror:
            x = 1 - x
        return torch.stack([x, y], dim=-1)

    def cell(self, cell: torch.Tensor) -> torch.Tensor:
        """(..., 2) output pixel sizes (x, y) → their sizes once transformed."""
        return cell.flip(-1) if self.turns % 2 else cell

    def size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size has once transformed."""
        return (width, height) if self.turns % 2 else (height, width)


_ALL = tuple(Dihedral(t, m) for t in (0, 2, 1, 3) for m in (False, True))


def transforms(n: int) -> tuple[Dihedral, ...]:
    """The first ``n`` (1, 2, 4 or 8) symmetries; ``transforms(1)`` is the identity alone."""
    if n not in ENSEMBLE_SIZES:
        raise ValueError(f"ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, got {n}")
    return _ALL[:n]


def self_ensemble(run: Callable[[torch.Tensor, Dihedral], object], images: torch.Tensor, n: int):
    """The mean over the first ``n`` symmetries of ``undo(run(apply(images), symmetry))``: the one
    self-ensemble loop (``upscale_image`` and ``hinr eval`` run it). ``run`` may return a tensor or
    a dict of tensors (several outputs of one pass, e.g. one per scale), averaged alike."""
    passes = transforms(n)
    total = None
    for symmetry in passes:
        out = run(symmetry.apply(images), symmetry)
        if isinstance(out, dict):
            out = {key: symmetry.undo(value) for key, value in out.items()}
            total = out if total is None else {key: total[key] + out[key] for key in total}
        else:
            out = symmetry.undo(out)
            total = out if total is None else total + out
    if isinstance(total, dict):
        return {key: value / len(passes) for key, value in total.items()}
    return total / len(passes)
