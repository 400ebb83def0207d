"""Output sizes: the one rule that turns ``--size N``, ``--size WxH`` or ``--scale K`` and an input's
size into an output size, used by every command (``upscale``, ``render``) and by Python callers.

- ``size="WxH"``: exactly W × H;
- ``size="N"`` (or an int): N on the longer side, the input's aspect ratio kept (a square input
  gives N × N);
- ``scale=K``: K times the input on each side, rounded to the nearest pixel (at least 1).

Outputs over ``MAX_SIDE`` px on a side are refused unless ``force=True``: at ~12 bytes a pixel
they take gigabytes (``hinr.inference.memory`` checks what a forced size needs against the memory there is).
"""

from __future__ import annotations

import math
import re

from ..errors import HinrUsageError

MAX_SIDE = 16384
_SIZE = re.compile(r"^\s*(-?\d+)\s*(?:[xX×]\s*(-?\d+)\s*)?$")


def parse_size(text: str | int, *, option: str = "--size") -> tuple[int | None, int, int]:
    """'N' or 'WxH' → (N or None, width, height); HinrUsageError unless all are positive integers."""
    match = _SIZE.match(str(text))
    if match is None:
        raise HinrUsageError(f"{option} takes N or WxH (e.g. 256 or 640x480), not {str(text)!r}")
    width = int(match[1])
    height = int(match[2]) if match[2] is not None else width
    if width < 1 or height < 1:
        raise HinrUsageError(f"{option} must be positive, got {str(text)!r}")
    return (None if match[2] is not None else width), width, height


def check_limit(width: int, height: int, *, force: bool = False) -> None:
    """HinrUsageError for a side over MAX_SIDE unless ``force``."""
    if max(width, height) > MAX_SIDE and not force:
        raise HinrUsageError(f"{width}x{height} is larger than {MAX_SIDE} px on a side: pass --force "
                             "if you mean it (it needs ~12 bytes a pixel)")


def check_size_options(size: str | int | None, scale: float | None) -> None:
    """Before any input is read: exactly one of size and scale, each well formed."""
    if (size is None) == (scale is None):
        raise HinrUsageError("pass exactly one of --size N, --size WxH or --scale K")
    if scale is not None:
        if not math.isfinite(scale) or scale <= 0:
            raise HinrUsageError(f"--scale must be a positive number, got {scale}")
    else:
        parse_size(size)


def target_size(in_width: int, in_height: int, *, size: str | int | None = None,
                scale: float | None = None, force: bool = False) -> tuple[int, int]:
    """The output (width, height) for an input of in_width × in_height (see the module docstring)."""
    check_size_options(size, scale)
    if scale is not None:
        width, height = max(1, round(in_width * scale)), max(1, round(in_height * scale))
    else:
        side, width, height = parse_size(size)
        if side is not None and in_width != in_height:
            factor = side / max(in_width, in_height)
            width, height = max(1, round(in_width * factor)), max(1, round(in_height * factor))
    check_limit(width, height, force=force)
    return width, height


def size_tag(width: int, height: int) -> str:
    """How a default output name carries its size: '256' for 256 × 256, '640x480' otherwise."""
    return str(width) if width == height else f"{width}x{height}"
