"""Damaged image data that a decoder would pass over in silence.

- PNG: every chunk carries a CRC. Pillow checks them on its 8-bit path and refuses a mismatch;
  ``png_damage`` checks them for the 16-bit path (libspng decodes past a bad IDAT CRC), so the
  same damage is refused the same way on every path.
- JPEG: libjpeg decodes a corrupted scan to a visibly broken picture and only warns (Pillow drops
  the warning). ``jpeg_damage`` decodes the file once more through libjpeg-turbo in strict mode
  (simplejpeg) and returns its warning. Cameras often leave a few extraneous bytes at the end, so
  damage in a JPEG is reported, not refused.
"""

from __future__ import annotations

import struct
import zlib

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_damage(data: bytes) -> str | None:
    """The first chunk whose CRC does not match, or a truncation, as a short phrase; None if sound."""
    if data[:8] != _PNG_SIGNATURE:
        return "not a PNG signature"
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            return f"truncated in its {kind.decode('latin-1')} chunk"
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(data[at + 4:end - 4]) != crc:
            return f"CRC mismatch in its {kind.decode('latin-1')} chunk"
        if kind == b"IEND":
            return None
        at = end
    return "truncated: no IEND chunk"


def jpeg_damage(data: bytes) -> str | None:
    """libjpeg's warning about corrupt data in this JPEG ('Corrupt JPEG data: …'), or None.

    Other refusals of the strict decoder (colour spaces it does not convert, such as CMYK) are
    not damage: Pillow decodes those, so they return None."""
    try:
        import simplejpeg
    except ImportError:  # pragma: no cover - a dependency; without it the check is skipped
        return None
    try:
        simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as err:
        text = str(err)
        if "Corrupt JPEG data" in text or "Premature end" in text or "Huffman" in text:
            return text.strip().rstrip(".")
    except Exception:  # noqa: BLE001 - anything else is the strict decoder's limit, not damage
        return None
    return None
