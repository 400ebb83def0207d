"""Output sizes: the one rule that turns ``--size N``, ``--size WxH`` or ``--scale K`` and an input's
size into an output size, used by every command (``upscale``, ``render``) and by Python callers.

- ``size="WxH"``: W × H as ``fit`` says: ``contain`` (the default) fits the picture inside W × H
  with its aspect ratio kept, ``cover`` fills W × H and crops the middle (rendered at
  ``render_size``, then cropped), ``stretch`` makes exactly W × H whatever the aspect; a picture
  whose aspect is not W:H gets one warning (``aspect_warning``);
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
FITS = ("contain", "cover", "stretch")
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
        if scale > MAX_SIDE:  # no input is small enough for this to make a picture that fits
            raise HinrUsageError(f"--scale {scale:g} is too large: at most {MAX_SIDE}")
    else:
        parse_size(size)


def check_fit(fit: str | None, size: str | int | None) -> str:
    """The fit to use (default ``contain``); HinrUsageError unless it is one of FITS and the size
    is WxH (``--size N`` and ``--scale`` keep the aspect already)."""
    if fit is None:
        return "contain"
    if fit not in FITS:
        raise HinrUsageError(f"--fit must be one of {', '.join(FITS)}, not {fit!r}")
    if size is None or parse_size(size)[0] is not None:
        raise HinrUsageError("--fit applies to --size WxH only (--size N and --scale keep the "
                             "picture's aspect already)")
    return fit


def target_size(in_width: int, in_height: int, *, size: str | int | None = None,
                scale: float | None = None, force: bool = False, fit: str = "contain") -> tuple[int, int]:
    """The output (width, height) for an input of in_width × in_height (see the module docstring)."""
    check_size_options(size, scale)
    if scale is not None:
        width, height = max(1, round(in_width * scale)), max(1, round(in_height * scale))
    else:
        side, width, height = parse_size(size)
        if side is not None and in_width != in_height:
            factor = side / max(in_width, in_height)
            width, height = max(1, round(in_width * factor)), max(1, round(in_height * factor))
        elif side is None and fit == "contain":
            factor = min(width / in_width, height / in_height)
            width, height = _scaled(in_width, in_height, factor, width, height)
    check_limit(width, height, force=force)
    return width, height


def _scaled(in_width: int, in_height: int, factor: float, width: int, height: int) -> tuple[int, int]:
    """in_width × in_height times ``factor``; a side that factor fits to exactly stays exact."""
    w = width if abs(in_width * factor - width) < 0.5 else max(1, round(in_width * factor))
    h = height if abs(in_height * factor - height) < 0.5 else max(1, round(in_height * factor))
    return w, h


def render_size(in_width: int, in_height: int, width: int, height: int, fit: str) -> tuple[int, int]:
    """The size the picture is rendered at for an output of width × height: for ``cover`` the
    smallest that covers it with the aspect kept (the output is its middle), else the output's."""
    if fit != "cover":
        return width, height
    return _scaled(in_width, in_height, max(width / in_width, height / in_height), width, height)


def aspect_warning(name: str, in_width: int, in_height: int, size: str | int | None,
                   out: tuple[int, int], fit: str) -> str | None:
    """One line when ``--size WxH`` does not have the picture's aspect ratio (None otherwise)."""
    if size is None:
        return None
    side, width, height = parse_size(size)
    if side is not None or abs(width / height - in_width / in_height) < 0.5 / min(width, height):
        return None
    what = {"contain": f"fitted inside it as {out[0]}x{out[1]}, its aspect kept",
            "cover": f"filled and cropped to {width}x{height} (the middle is kept)",
            "stretch": "stretched to it"}[fit]
    other = {"contain": "--fit cover fills and crops, --fit stretch stretches",
             "cover": "--fit contain keeps the whole picture",
             "stretch": "--fit contain keeps the aspect"}[fit]
    return f"{name} is {in_width}x{in_height}, not the shape of {width}x{height}: {what} ({other})"


def size_tag(width: int, height: int) -> str:
    """How a default output name carries its size: '256' for 256 × 256, '640x480' otherwise."""
    return str(width) if width == height else f"{width}x{height}"
