"""How a JPEG file was coded: the quality it was saved at and its chroma subsampling, read back
from the file, so that hinr can give JPEG inputs weights trained for them.

The quality comes from the quantization tables.

Almost every encoder (libjpeg and its descendants: Pillow, OpenCV, browsers, most cameras and
phones) scales the IJG reference tables (Annex K of the JPEG standard) by one quality factor in
1..100. The factor is recovered by finding the quality whose scaled tables are closest to the
file's. Encoders with tables of their own (some cameras, Photoshop) get the IJG quality whose
tables quantise as coarsely overall — the equivalent quality, which is what matters for choosing
weights. Only sums are compared, so the order a decoder lists a table in (natural or zig-zag)
does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

from PIL import Image, JpegImagePlugin

SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}  # Pillow's codes (JpegImagePlugin.get_sampling)


@dataclass(frozen=True)
class JpegCoding:
    """What a JPEG file's header says of its coding."""

    quality: int | None  # the IJG quality 1..100 (estimate_quality), None without tables
    subsampling: str  # "4:2:0", "4:2:2", "4:4:4", "grey" (one channel) or "other"


def read_coding(image: Image.Image) -> JpegCoding | None:
    """The coding of an opened Pillow image, or None when it is not a JPEG file."""
    if image.format != "JPEG":
        return None
    quality = estimate_quality(getattr(image, "quantization", None) or {})
    if image.mode in ("L", "1"):
        return JpegCoding(quality, "grey")
    return JpegCoding(quality, SUBSAMPLING.get(JpegImagePlugin.get_sampling(image), "other"))

def subsampling_code(label: str, *, option: str = "subsampling") -> int:
    """'4:4:4' / '4:2:2' / '4:2:0' → Pillow's code (its ``subsampling=`` argument); ValueError
    naming the choices for anything else (``option`` names the setting in the message)."""
    codes = {name: code for code, name in SUBSAMPLING.items()}
    if label not in codes:
        raise ValueError(f"{option} must be one of {', '.join(codes)}, not {label!r}")
    return codes[label]


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
