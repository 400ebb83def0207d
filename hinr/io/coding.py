"""How a lossy input file was coded — JPEG (its quality and chroma subsampling) or lossy WebP —
read back from the file, so that hinr can give such inputs weights trained for them.

A JPEG file's quality comes from its quantization tables. Almost every encoder (libjpeg and its
descendants: Pillow, OpenCV, browsers, most cameras and phones) scales the IJG reference tables
(Annex K of the JPEG standard) by one quality factor in 1..100; the factor is recovered by
finding the quality whose scaled tables are closest to the file's. Encoders with tables of their
own (some cameras, Photoshop) get the IJG quality whose tables quantise as coarsely overall — the
equivalent quality, which is what matters for choosing weights. Only sums are compared, so the
order a decoder lists a table in (natural or zig-zag) does not matter.

A WebP file is lossy when its image data is a VP8 bitstream (always 4:2:0 colour), lossless when
VP8L; its quality is not recoverable from the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Mapping, Sequence

from PIL import Image, JpegImagePlugin

from ..errors import HinrUsageError

SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}  # Pillow's codes (JpegImagePlugin.get_sampling)


@dataclass(frozen=True)
class Coding:
    """How a lossy file was coded."""

    format: str  # "JPEG" or "WEBP" (lossy)
    quality: int | None  # JPEG: the IJG quality 1..100 (estimate_quality); None when not known
    subsampling: str  # "4:2:0", "4:2:2", "4:4:4", "grey" (one channel) or "other"


def read_coding(image: Image.Image, path: str | Path) -> Coding | None:
    """The coding of the file at ``path``, opened by Pillow as ``image``, or None for a lossless
    file."""
    if image.format == "WEBP":
        return Coding("WEBP", None, "4:2:0") if webp_is_lossy(path) else None
    if image.format != "JPEG":
        return None
    quality = estimate_quality(getattr(image, "quantization", None) or {})
    if image.mode in ("L", "1"):
        return Coding("JPEG", quality, "grey")
    return Coding("JPEG", quality, SUBSAMPLING.get(JpegImagePlugin.get_sampling(image), "other"))


def webp_is_lossy(path: str | Path) -> bool:
    """Whether a WebP file's image data is a lossy VP8 bitstream, found by walking its RIFF chunks
    (an extended file lists optional ones, such as an ICC profile, first; an animation's frames
    hold theirs after a 16-byte frame header)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
            return False
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return False
            fourcc, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if fourcc in (b"VP8 ", b"VP8L"):
                return fourcc == b"VP8 "
            if fourcc == b"ANMF":
                handle.seek(16, 1)
            else:
                handle.seek(size + (size & 1), 1)


def subsampling_code(label: str, *, option: str = "subsampling") -> int:
    """'4:4:4' / '4:2:2' / '4:2:0' → Pillow's code (its ``subsampling=`` argument); ValueError
    naming the choices for anything else (``option`` names the setting in the message)."""
    codes = {name: code for code, name in SUBSAMPLING.items()}
    if label not in codes:
        raise ValueError(f"{option} must be one of {', '.join(codes)}, not {label!r}")
    return codes[label]


def check_quality(quality: int | None, *, option: str = "quality") -> None:
    """HinrUsageError (a ValueError) unless ``quality`` is None or a JPEG / WebP quality, 1..100
    (``option`` names the setting in the message)."""
    if quality is not None and not 1 <= quality <= 100:
        raise HinrUsageError(f"{option} must be from 1 to 100, got {quality}")


# IJG reference tables at quality 50 (JPEG standard, Annex K.1), any order: only sums are used.
_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
         69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
         81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_CHROMA = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
           99, 99, 47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32


def scaled_table(base: Sequence[int], quality: int) -> list[int]:
    """``base`` scaled to ``quality`` (1..100) the way libjpeg's ``jpeg_set_quality`` does."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((value * scale + 50) // 100, 1), 255) for value in base]


@lru_cache(maxsize=None)
def _reference_sums() -> tuple[tuple[int, int], ...]:
    """(luma sum, chroma sum) of the IJG tables at every quality 1..100 (index = quality − 1)."""
    return tuple((sum(scaled_table(_LUMA, q)), sum(scaled_table(_CHROMA, q))) for q in range(1, 101))


def estimate_quality(tables: Mapping[int, Sequence[int]]) -> int | None:
    """The IJG quality (1..100) closest to a file's quantization ``tables`` (Pillow's
    ``image.quantization``: table index → 64 values), or None when there are no tables.

    Table 0 is luminance; table 1, when present, chrominance. The distance is the relative error
    of each table's sum, so both tables count alike whatever their magnitude.
    """
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    luma = sum(tables[0])
    chroma = sum(tables[1]) if 1 in tables and len(tables[1]) == 64 else None

    def distance(quality: int) -> float:
        ref_luma, ref_chroma = _reference_sums()[quality - 1]
        error = abs(luma - ref_luma) / ref_luma
        if chroma is not None:
            error += abs(chroma - ref_chroma) / ref_chroma
        return error

    return min(range(1, 101), key=lambda q: (distance(q), -q))


def describe_coding(coding: Coding) -> str:
    """'a JPEG file (quality 75, 4:2:0)' or 'a lossy WebP file'."""
    if coding.format == "WEBP":
        return "a lossy WebP file"
    return f"a JPEG file (quality {coding.quality}, {coding.subsampling})"
