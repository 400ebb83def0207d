"""The orientation a file declares, from its EXIF alone (``exif_of``), and applied to a decoded
array as ``PIL.ImageOps.exif_transpose`` does to an image (for the 16-bit PNG path, which decodes
outside Pillow).

Pillow fills a missing EXIF orientation from a ``tiff:Orientation`` it finds by a text search of
the XMP, even in a packet that is not XML; browsers and viewers take the orientation from EXIF
only, so hinr does too: a photo comes out as people see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ORIENTATION_TAG = 0x0112
ROTATED = (5, 6, 7, 8)  # the orientations that swap width and height
XMP_KEYS = ("xmp", "XML:com.adobe.xmp")  # where Pillow's readers put an XMP packet


def exif_of(image):
    """``image.getexif()`` read from the EXIF alone (module docstring). Pillow caches it, so
    ``ImageOps.exif_transpose`` and later ``getexif`` calls on the image see the same tags."""
    hidden = {key: image.info.pop(key) for key in XMP_KEYS if key in image.info}
    try:
        return image.getexif()
    finally:
        image.info.update(hidden)


def read_orientation(path: str | Path) -> int:
    """The EXIF orientation (1–8) a file declares (PNG eXIf included), 1 if none or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            value = int(exif_of(image).get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF: the picture as stored
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, C) as stored → upright, for EXIF orientation 1–8 (the same as exif_transpose)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirrored
        3: lambda a: a[::-1, ::-1],  # rotated 180°
        4: lambda a: a[::-1, :],  # flipped
        5: lambda a: a.transpose(1, 0, 2),  # transposed
        6: lambda a: np.rot90(a, k=-1),  # stored rotated 90° counter-clockwise
        7: lambda a: np.rot90(a, k=2).transpose(1, 0, 2),  # transversed
        8: lambda a: np.rot90(a, k=1),
    }
    return np.ascontiguousarray(ops.get(orientation, ops[1])(array))


def transpose_upright(image, orientation: int):
    """A PIL image as stored → upright for EXIF orientation 1–8 (``ImageOps.exif_transpose``'s
    turns, from the given orientation rather than the image's own tags); a copy either way."""
    from PIL import Image

    turns = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
    turn = turns.get(orientation)
    return image.transpose(turn) if turn is not None else image.copy()
