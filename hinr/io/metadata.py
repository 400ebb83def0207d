"""What makes a photo the user's own beyond its pixels — its ICC colour profile, EXIF and XMP —
read from the input and written into the upscaled output.

- The ICC profile is copied byte for byte: hinr computes in the file's own colour values, so the
  profile stays true of the output (it is never parsed, so one Pillow cannot read still travels).
- EXIF is rewritten for the new picture: the orientation reset to 1 (the pixels are upright
  already), the pixel-dimension tags set to the new size, the embedded thumbnail of the old
  picture dropped, and the GPS position dropped unless asked to keep it (upscaled photos get
  shared). A block that cannot be parsed is dropped with a note.
- XMP is parsed as XML and written back with its ``tiff:Orientation`` (if any) reset to 1, for the
  same reason, and its location (GPS and place names) removed unless asked to keep it
  (``hinr.io.xmp``); a packet that is not well-formed XML is dropped with a note.

``save_options(fmt, metadata, size)`` turns this into what Pillow's ``save`` takes for each
format; ``png_chunks`` makes the chunks for hinr's own 16-bit PNG writer. BMP holds none of it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image, PngImagePlugin

from .xmp import MalformedXmp, clean_xmp

ORIENTATION, IMAGE_WIDTH, IMAGE_LENGTH = 0x0112, 0x0100, 0x0101
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
XMP_TAG = 700  # TIFF's XMP tag
XMP_PNG_KEY = "XML:com.adobe.xmp"
FORMATS_WITH_METADATA = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})


@dataclass
class Metadata:
    """The input's metadata, raw: what ``save_options`` writes back."""

    icc: bytes | None = None
    exif: Image.Exif | None = None
    xmp: bytes | None = None
    notes: list[str] = field(default_factory=list)  # what could not be kept, one line each

    def __bool__(self) -> bool:
        return bool(self.icc or self.exif is not None or self.xmp)


def to_record(metadata: Metadata | None) -> dict | None:
    """JSON-friendly (base64) form of ``metadata`` for a latents file, without the GPS position
    (a latents file gets shared like a photo); None for none."""
    import base64

    if not metadata:
        return None
    exif = None
    if metadata.exif is not None:
        source = metadata.exif
        kept = Image.Exif()
        for tag, value in source.items():
            if tag not in (EXIF_IFD, GPS_IFD):
                kept[tag] = value
        if EXIF_IFD in source:
            kept[EXIF_IFD] = dict(source.get_ifd(EXIF_IFD))
        exif = kept.tobytes()
    encode = lambda b: base64.b64encode(b).decode("ascii") if b else None  # noqa: E731
    return {"icc": encode(metadata.icc), "exif": encode(exif), "xmp": encode(output_xmp(metadata))}


def from_record(record: dict | None) -> Metadata | None:
    """``to_record``'s inverse; an unreadable record gives None (the render goes on without it)."""
    import base64

    if not record:
        return None
    try:
        decode = lambda key: base64.b64decode(record[key]) if record.get(key) else None  # noqa: E731
        exif_bytes = decode("exif")
        exif = None
        if exif_bytes:
            exif = Image.Exif()
            exif.load(exif_bytes)
        return Metadata(icc=decode("icc"), exif=exif, xmp=decode("xmp"))
    except Exception:  # noqa: BLE001 - metadata never stops a render
        return None


def read_metadata(image: Image.Image, name: str) -> Metadata:
    """The metadata of an opened (not yet transposed) image; ``name`` for the notes."""
    found = Metadata()
    icc = image.info.get("icc_profile")
    found.icc = bytes(icc) if icc else None
    xmp = image.info.get("xmp") or image.info.get(XMP_PNG_KEY)
    if not xmp and image.format == "TIFF":
        xmp = getattr(image, "tag_v2", {}).get(XMP_TAG)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    found.xmp = bytes(xmp) if xmp else None
    if found.xmp:
        try:
            clean_xmp(found.xmp, keep_gps=True)
        except MalformedXmp as err:
            found.xmp = None
            found.notes.append(f"{name}: its XMP block is not kept: {err}")
    raw = image.info.get("exif")
    try:
        exif = image.getexif()
        if raw and not len(exif):
            raise ValueError("no tags could be read")
        found.exif = exif if len(exif) else None
    except Exception as err:  # noqa: BLE001 - a damaged block never stops an upscale
        found.notes.append(f"{name}: its EXIF block cannot be read ({err}), so it is not kept")
    return found


def output_exif(metadata: Metadata, size: tuple[int, int], *, keep_gps: bool) -> bytes | None:
    """The EXIF block for an output of ``size`` (width, height) — see the module docstring."""
    exif = _output_exif(metadata, size, keep_gps=keep_gps)
    return None if exif is None else exif.tobytes()


# TIFF's own layout tags: the TIFF writer sets them for the new file
_TIFF_STRUCTURE = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279,
                             280, 281, 282, 283, 284, 296, 317, 338, 339, 513, 514, 530, 531, 532,
                             34675})


def _tiff_tags(exif: Image.Exif) -> dict:
    """The output EXIF as the ``tiffinfo`` of Pillow's TIFF writer (which writes no ``exif=``)."""
    tags = {tag: value for tag, value in exif.items() if tag not in _TIFF_STRUCTURE
            and tag not in (EXIF_IFD, GPS_IFD)}
    if ORIENTATION in exif:
        tags[ORIENTATION] = 1
    for pointer in (EXIF_IFD, GPS_IFD):
        if pointer in exif:  # built by _output_exif: the sub-IFD is held as a dict
            tags[pointer] = dict(exif[pointer])
    return tags


def _output_exif(metadata: Metadata, size: tuple[int, int], *, keep_gps: bool) -> Image.Exif | None:
    if metadata.exif is None:
        return None
    source = metadata.exif
    exif = Image.Exif()
    for tag, value in source.items():
        if tag in (EXIF_IFD, GPS_IFD):
            continue  # sub-IFDs are copied below, the GPS one only when asked
        exif[tag] = value
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    width, height = size
    if IMAGE_WIDTH in exif:
        exif[IMAGE_WIDTH] = width
    if IMAGE_LENGTH in exif:
        exif[IMAGE_LENGTH] = height
    sub = dict(source.get_ifd(EXIF_IFD))
    if sub or EXIF_IFD in source:
        if PIXEL_X in sub or PIXEL_Y in sub or sub:
            sub[PIXEL_X], sub[PIXEL_Y] = width, height
        exif[EXIF_IFD] = sub
    if keep_gps and GPS_IFD in source:
        exif[GPS_IFD] = dict(source.get_ifd(GPS_IFD))
    return exif


def output_xmp(metadata: Metadata, *, keep_gps: bool = False) -> bytes | None:
    """The XMP packet for the output (``hinr.io.xmp.clean_xmp``), None if none or unparsable."""
    if not metadata.xmp:
        return None
    try:
        return clean_xmp(metadata.xmp, keep_gps=keep_gps)
    except MalformedXmp:
        return None


JPEG_SEGMENT = 65533  # bytes an APP1 segment holds after its length field
_XMP_JPEG_HEADER = len(b"http://ns.adobe.com/xap/1.0/\x00")


def fit_for_format(fmt: str, metadata: Metadata | None, size: tuple[int, int], name: str, *,
                   keep_gps: bool = False) -> tuple[Metadata | None, list[str]]:
    """``metadata`` without the blocks ``fmt`` cannot hold (a JPEG holds EXIF and XMP of at most
    one 64 KB segment each), and one note for each block dropped: said before the work, instead
    of a failed write after it."""
    if not metadata or fmt != "JPEG":
        return metadata, []
    notes, kept = [], Metadata(icc=metadata.icc, exif=metadata.exif, xmp=metadata.xmp)
    exif = output_exif(metadata, size, keep_gps=keep_gps)
    if exif is not None and len(exif) > JPEG_SEGMENT:
        kept.exif = None
        notes.append(f"{name}: its EXIF block ({len(exif) // 1024} KB) is too large for a JPEG "
                     "(64 KB at most), so it is not kept; write .png, .webp or .tif to keep it")
    xmp = output_xmp(metadata, keep_gps=keep_gps)
    if xmp is not None and len(xmp) + _XMP_JPEG_HEADER > JPEG_SEGMENT:
        kept.xmp = None
        notes.append(f"{name}: its XMP block ({len(xmp) // 1024} KB) is too large for a JPEG "
                     "(64 KB at most), so it is not kept; write .png, .webp or .tif to keep it")
    return kept, notes


def save_options(fmt: str, metadata: Metadata | None, size: tuple[int, int], *,
                 keep_gps: bool = False) -> dict:
    """Pillow ``save`` keyword arguments that write ``metadata`` into a ``fmt`` file."""
    if not metadata or fmt not in FORMATS_WITH_METADATA:
        return {}
    options: dict = {}
    if metadata.icc:
        options["icc_profile"] = metadata.icc
    exif = _output_exif(metadata, size, keep_gps=keep_gps)
    xmp = output_xmp(metadata, keep_gps=keep_gps)
    if fmt == "TIFF":
        tags = _tiff_tags(exif) if exif is not None else {}
        if xmp:
            tags[XMP_TAG] = xmp
        return {**options, "tiffinfo": tags} if tags else options
    if exif is not None:
        options["exif"] = exif.tobytes()
    if xmp:
        if fmt in ("JPEG", "WEBP"):
            options["xmp"] = xmp
        elif fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt(XMP_PNG_KEY, xmp.decode("utf-8", "replace"))
            options["pnginfo"] = info
    return options


def png_chunks(metadata: Metadata | None, size: tuple[int, int], *, keep_gps: bool = False
               ) -> list[tuple[bytes, bytes]]:
    """(type, body) chunks for a PNG hinr writes itself (16-bit): iCCP, eXIf and iTXt XMP."""
    if not metadata:
        return []
    chunks = []
    if metadata.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(metadata.icc)))
    exif = output_exif(metadata, size, keep_gps=keep_gps)
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    xmp = output_xmp(metadata, keep_gps=keep_gps)
    if xmp:
        chunks.append((b"iTXt", XMP_PNG_KEY.encode() + b"\x00\x00\x00\x00\x00" + xmp))
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
