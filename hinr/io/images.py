"""Reading any image file into float RGB (+ alpha), and writing results atomically by extension.

Loading policy of :func:`load_image` (the inference side; training uses ``hinr.data.folder``):

- colour comes back as float32 (3, H, W) in [0, 1], *straight* (not multiplied by alpha);
- alpha (RGBA, LA, PA, palette transparency) comes back separately as (1, H, W) in [0, 1];
- greyscale ("1", "L", "LA", "I;16", "I", "F") is replicated to three channels and flagged
  ``grey`` so the result can be written back as greyscale;
- 16-bit data keeps its precision: Pillow's "I;16"/"I" greyscale directly, and 16-bit PNGs of
  every colour type through libspng (pyspng; Pillow would truncate 16-bit RGB to 8 bits);
- Pillow's decompression-bomb limit (2 × ``Image.MAX_IMAGE_PIXELS``) is checked on the header,
  before anything is decoded, on every path;
- palette, CMYK and other modes go through Pillow's conversion to RGB(A); the EXIF orientation
  is applied (on the 16-bit PNG path too, from its eXIf chunk);
- damage a decoder would pass over is checked: a chunk CRC on the 16-bit PNG path is refused as
  Pillow refuses it on the 8-bit one; damaged JPEG scan data, a file's further frames or pages
  and an image over Pillow's safety limit become ``notes`` for the caller to show;
- how a lossy file was coded is read from it (``coding``: a JPEG file's quality and chroma
  subsampling, or lossy WebP), so a caller can pick weights trained for such inputs
  (``hinr.store.shipped.weights_for_input``).

Every failure to read raises :class:`ImageReadError` naming the file and what to do.

:func:`save_image` picks the format from the extension (png, jpg/jpeg, webp, tif/tiff, bmp), keeps
alpha where the format has it (png, webp, tiff; otherwise flattened onto white, and the CLI
says so), writes 16-bit PNG when asked, and writes through
:func:`hinr.atomic.atomic_write`, so a failure never leaves a partial file and an existing file is
replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import re
import struct
import zlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..atomic import WriteError, atomic_write
from ..errors import HinrDataError
from .coding import Coding, check_quality, read_coding
from .metadata import Metadata, png_chunk, png_chunks, read_metadata, save_options
from .orientation import ROTATED, exif_of, transpose_upright

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
JPEG_QUALITY = 95  # JPEG and WebP outputs, unless asked (--quality)
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel


class ImageReadError(HinrDataError):
    """An input that is missing, empty, not an image, or damaged; the message names it."""


class ImageWriteError(HinrDataError):
    """An output that cannot be written where or how it was asked."""


class UnsupportedFormatError(ImageWriteError, ValueError):
    """An output extension hinr does not write."""


@dataclass
class LoadedImage:
    """A decoded image: straight colour, optional alpha, and what the file held."""

    rgb: torch.Tensor  # (3, H, W) float32 in [0, 1]
    alpha: torch.Tensor | None  # (1, H, W) float32 in [0, 1], or None
    grey: bool  # the file had no colour: write the result back as greyscale
    bits: int  # 8 or 16: the precision of the file's samples
    coding: Coding | None = None  # how a lossy file (JPEG, lossy WebP) was coded (hinr.io.coding)
    # what the caller should tell the user, one line each (damaged JPEG data, frames left out, a
    # very large image); the library never prints them itself
    notes: list[str] = field(default_factory=list)
    metadata: Metadata | None = None  # ICC profile, EXIF and XMP, for save_image to write back

    @property
    def height(self) -> int:
        return self.rgb.shape[1]

    @property
    def width(self) -> int:
        return self.rgb.shape[2]


# --- reading ------------------------------------------------------------------------------------

def check_image_file(path: str | Path) -> Path:
    """Cheap checks before decoding: ImageReadError for a missing, folder or empty path."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path} does not exist: check the path")
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder, not an image: pass image files (e.g. {path}/*.png)")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path} is empty (0 bytes): re-export or re-download it")
    return path


def load_image(path: str | Path, *, at_least: tuple[int, int] | None = None) -> LoadedImage:
    """Decode any image file (see the module docstring for the policy).

    ``at_least`` (width, height): the caller needs no more than this, so a much larger image may
    come back reduced while decoding (JPEG's DCT scaling, then Pillow's box ``reduce`` by a whole
    factor) to no less than twice it on either side, the aspect ratio kept to a pixel — a 169-Mpixel
    photo made into a thumbnail then never exists in memory in float."""
    path = check_image_file(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            loaded = _decode(path, at_least)
        for warning in caught:
            if issubclass(warning.category, Image.DecompressionBombWarning):
                found = re.search(r"\((\d+) pixels\)", str(warning.message))
                pixels = f"{int(found.group(1)):,} pixels" if found else "more pixels"
                loaded.notes.append(f"{path.name} has {pixels}, over Pillow's "
                                    f"{Image.MAX_IMAGE_PIXELS:,}-pixel safety limit: decoded anyway, "
                                    "which takes memory and time")
                break
        return loaded
    except ImageReadError:
        raise
    except UnidentifiedImageError as err:
        raise ImageReadError(f"{path} is not an image Pillow can read: pass a PNG, JPEG, WebP, TIFF "
                             "or BMP file") from err
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path} is too large to decode safely ({err}): reduce it first") from err
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError, struct.error,
            zlib.error) as err:
        raise ImageReadError(f"{path} is truncated or corrupt ({err}): re-export or re-download it") from err


def _reduce_factor(size: tuple[int, int], at_least: tuple[int, int] | None) -> int:
    """The whole factor by which an image of ``size`` may shrink and stay ≥ 2 × ``at_least``."""
    if at_least is None:
        return 1
    return max(1, min(size[0] // max(1, 2 * at_least[0]), size[1] // max(1, 2 * at_least[1])))


def _reduce_array(samples: np.ndarray, factor: int, *, rows: int = 256) -> np.ndarray:
    """(H, W, C) samples box-averaged over factor × factor blocks (Pillow's ``reduce``; the last
    partial row and column of blocks dropped), a band of blocks at a time so that memory stays
    near the decoded array's own."""
    h, w, c = samples.shape[0] // factor, samples.shape[1] // factor, samples.shape[2]
    out = np.empty((h, w, c), samples.dtype)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        band = samples[r0 * factor:r1 * factor, :w * factor].astype(np.float32)
        out[r0:r1] = np.rint(band.reshape(r1 - r0, factor, w, factor, c).mean(axis=(1, 3)))
    return out


def _decode(path: Path, at_least: tuple[int, int] | None = None) -> LoadedImage:
    from .damage import jpeg_damage, png_damage
    from .orientation import apply_orientation, read_orientation

    header = _png16_header(path)
    # a 16-bit PNG far larger than the output needs goes through Pillow, which decodes it a row at
    # a time into 8 bits a sample (half the memory, and no second copy), then reduces it: averaged
    # over 4×4 pixels or more, 8 bits lose nothing that the output's 16 keep
    shrink = header is not None and _reduce_factor(header[:2], at_least) >= 4
    if header is not None and not shrink:
        check_pixel_limit(path, header[0], header[1])
        data = path.read_bytes()
        damage = png_damage(data)
        if damage is not None:  # as Pillow refuses it on the 8-bit path
            raise ImageReadError(f"{path} is truncated or corrupt ({damage}): re-export or "
                                 "re-download it")
        samples = apply_orientation(_read_png16(data, header), read_orientation(path))
        del data
        factor = _reduce_factor((samples.shape[1], samples.shape[0]), at_least)
        if factor > 1:  # as Image.reduce on the 8-bit path, before the float copy
            samples = _reduce_array(samples, factor)
        loaded = _from_array(samples, bits=16)
        with Image.open(path) as opened:  # the header chunks only: no 8-bit decode
            loaded.metadata = read_metadata(opened, path.name)
        loaded.notes.extend(loaded.metadata.notes)
        return loaded
    with Image.open(path) as opened:
        orientation = exif_of(opened).get(0x0112, 1)  # from EXIF only (hinr.io.orientation)
        need = None if at_least is None else (at_least[1], at_least[0]) if orientation in ROTATED else at_least
        if need is not None and opened.format == "JPEG":
            opened.draft(opened.mode, (2 * need[0], 2 * need[1]))  # DCT scaling: 1/2 … 1/8
        opened.load()
        exif_of(opened)  # loading may have reset the cached EXIF
        factor = _reduce_factor(opened.size, need)
        # reduce first, then turn: the same pixels (a turn moves whole blocks), without a
        # full-size copy of a large picture
        image = opened.reduce(factor) if factor > 1 else opened
        image = transpose_upright(image, orientation)
        image.load()
        loaded = _from_pil(image)
        if shrink:
            loaded.bits = 16  # a 16-bit input gives a 16-bit output, as on the exact path
        loaded.coding = read_coding(opened, path)
        loaded.metadata = read_metadata(opened, path.name)
        loaded.notes.extend(loaded.metadata.notes)
        frames = getattr(opened, "n_frames", 1)
        if frames > 1:
            kind = "pages" if opened.format == "TIFF" else "frames"
            loaded.notes.append(f"{path.name} has {frames} {kind}: only the first is upscaled")
        if opened.format == "JPEG":
            damage = jpeg_damage(path.read_bytes())
            if damage is not None:
                loaded.notes.append(f"{path.name} holds damaged JPEG data ({damage}): parts of the "
                                    "picture may be broken; re-export or re-download it")
    return loaded


def _from_pil(image: Image.Image) -> LoadedImage:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        grey = np.asarray(image.convert("I") if mode != "I" else image).astype(np.float64)
        return _from_array(np.clip(grey, 0, 65535)[..., None], bits=16)
    if mode == "F":
        return _from_array(np.clip(np.asarray(image, np.float64), 0.0, 1.0)[..., None] * 65535.0, bits=16)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("La", "PA", "RGBa"):
        image = image.convert("LA" if mode == "La" else "RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    return _from_array(np.asarray(image), bits=8)


def _from_array(array: np.ndarray, *, bits: int) -> LoadedImage:
    """(H, W) or (H, W, C) samples with C in 1..4 (grey, grey+alpha, RGB, RGBA) → LoadedImage."""
    if array.ndim == 2:
        array = array[..., None]
    scale = 65535.0 if bits == 16 else 255.0
    data = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32) / np.float32(scale))
    data = data.permute(2, 0, 1).contiguous()
    channels = data.shape[0]
    grey = channels in (1, 2)
    colour = data[:1].expand(3, -1, -1).contiguous() if grey else data[:3]
    alpha = data[-1:].clone() if channels in (2, 4) else None
    return LoadedImage(rgb=colour.contiguous(), alpha=alpha, grey=grey, bits=bits)


def to_pil(rgb: torch.Tensor) -> Image.Image:
    """(3, H, W) float in [0, 1] → 8-bit RGB PIL image (exact for tensors made from 8-bit images)."""
    array = (rgb.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).contiguous().numpy())


# --- 16-bit PNG (Pillow keeps only 8 bits of 16-bit colour) -------------------------------------
# Decoded by libspng through pyspng (a 0.4 MB wheel, numpy only): exact, and ~80× faster than a
# pure-Python unfilter on Paeth rows. Measured on a 1024² RGB 16-bit Paeth PNG (35 KB): pyspng
# 0.018 s, pypng 1.37 s, the former hand-written decoder 1.52 s; Pillow 0.015 s but 8-bit only;
# OpenCV and imagecodecs read it exactly too but are 61 MB and 26 MB wheels.

def _png16_header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, colour type) of a 16-bit PNG, else None (Pillow reads it)."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if depth != 16 or colour not in _PNG_CHANNELS:
        return None
    return width, height, colour


def check_pixel_limit(path: Path, width: int, height: int) -> None:
    """Refuse what Pillow refuses, before decoding: over 2 × Image.MAX_IMAGE_PIXELS pixels."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > 2 * limit:
        raise ImageReadError(f"{path} is {width}×{height} = {width * height:,} pixels, over the "
                             f"limit of {2 * limit:,} (Pillow's decompression-bomb limit): reduce it "
                             "first")


def _read_png16(data: bytes, header: tuple[int, int, int]) -> np.ndarray:
    """Decode a 16-bit PNG (any interlace) to (H, W, C) uint16, C the file's samples per pixel
    (plus alpha when a tRNS chunk makes some pixels transparent)."""
    import pyspng

    _, _, colour = header
    if colour == 4:
        # grey + alpha: pyspng's automatic format asks libspng for GA16, which it cannot make from
        # a GA16 file; RGBA16 it can (grey replicated), through the C binding that load() wraps
        rgba = pyspng.c.spng_decode_image_bytes(data, pyspng.c.SPNG_FMT_RGBA16)
        decoded = rgba[..., [0, 3]]
    else:
        decoded = pyspng.load(data)  # grey → GA16, colour → RGBA16
    if decoded.ndim == 2:
        decoded = decoded[..., None]
    if decoded.dtype != np.uint16:
        raise ValueError(f"decoded as {decoded.dtype}, not 16-bit")
    channels = _PNG_CHANNELS[colour]
    if channels in (1, 3) and decoded.shape[2] == channels + 1 and decoded[..., -1].min() < 65535:
        return decoded  # tRNS: keep the transparency libspng derived
    return decoded[..., :channels] if decoded.shape[2] > channels else decoded


def _write_png16(path: str, samples: np.ndarray, extra: list[tuple[bytes, bytes]] = ()) -> None:
    """(H, W, C) uint16, C in 1..4 → a 16-bit PNG (filter None, zlib level 6), with ``extra``
    (type, body) chunks (metadata) before the image data."""
    height, width, channels = samples.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    with open(path, "wb") as handle:
        handle.write(_PNG_SIGNATURE + chunk(b"IHDR", ihdr)
                     + b"".join(png_chunk(kind, body) for kind, body in extra)
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


# --- writing ------------------------------------------------------------------------------------

def output_format(path: str | Path) -> str:
    """The Pillow format name for ``path``'s extension, or UnsupportedFormatError."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        kinds = ", ".join(sorted(SAVE_FORMATS))
        raise UnsupportedFormatError(f"cannot write {Path(path).name!r}: give the output one of the "
                                     f"extensions {kinds}")
    return SAVE_FORMATS[suffix]


PNG_LEVEL = 3  # zlib level of the PNGs written (save_image)


def save_image(path: str | Path, rgb: torch.Tensor, *, alpha: torch.Tensor | None = None,
               grey: bool = False, bits: int = 8, overwrite: bool = False,
               metadata: Metadata | None = None, keep_gps: bool = False,
               quality: int | None = None) -> Path:
    """Write colour (3, H, W) in [0, 1] (+ alpha (1, H, W)) to ``path``, format by extension.

    ``grey`` writes one channel (the mean of the three); ``bits=16`` writes 16-bit samples where
    the format allows (PNG, and greyscale TIFF), else 8. ``metadata`` (from ``load_image``) is
    written where the format holds it (``hinr.io.metadata``: ICC profile, EXIF for the new size,
    XMP; the GPS position only with ``keep_gps``). ``quality`` (1–100, JPEG and WebP) defaults to
    JPEG_QUALITY. Atomic (temp file, fsync, publish); an existing ``path`` raises
    OutputExistsError unless ``overwrite``.
    """
    path = Path(path)
    fmt = output_format(path)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    check_quality(quality)
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"save_image takes colour (3, H, W), got {tuple(rgb.shape)}")
    colour = rgb.detach().float().cpu().clamp(0.0, 1.0)
    if alpha is not None:
        alpha = alpha.detach().float().cpu().clamp(0.0, 1.0).reshape(1, *colour.shape[1:])
        if fmt not in ALPHA_FORMATS:
            # no alpha channel in the format: flattened onto white, as viewers show transparency
            colour, alpha = colour * alpha + (1.0 - alpha), None
    planes = colour.mean(0, keepdim=True) if grey else colour
    if alpha is not None:
        planes = torch.cat([planes, alpha])
    samples = planes.permute(1, 2, 0).numpy()
    sixteen = bits == 16 and (fmt == "PNG" or (fmt == "TIFF" and samples.shape[2] == 1))

    if sixteen:
        ints = np.rint(samples * 65535.0).astype(np.uint16)
        if fmt == "PNG":
            chunks = png_chunks(metadata, (ints.shape[1], ints.shape[0]), keep_gps=keep_gps)
            return _write(path, lambda tmp: _write_png16(tmp, ints, chunks), overwrite)
        image = Image.fromarray(ints[..., 0])  # I;16
    else:
        ints8 = np.rint(samples * 255.0).astype(np.uint8)
        image = Image.fromarray(ints8[..., 0] if ints8.shape[2] == 1 else ints8,
                                mode={1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[ints8.shape[2]])
        if fmt == "WEBP" and image.mode in ("L", "LA"):
            image = image.convert("RGBA" if image.mode == "LA" else "RGB")  # WebP has no grey
    # PNG at zlib level 3, not Pillow's 6: 2.6× faster to write a 1080p upscale, 16 % more bytes
    # (smooth upscales compress well at any level; OpenCV writes level 1 by default)
    lossy = quality if quality is not None else JPEG_QUALITY
    options = {"JPEG": dict(quality=lossy), "WEBP": dict(quality=lossy),
               "PNG": dict(compress_level=PNG_LEVEL)}.get(fmt, {})
    options.update(save_options(fmt, metadata, image.size, keep_gps=keep_gps))
    return _write(path, lambda tmp: image.save(tmp, format=fmt, **options), overwrite)


def _write(path: Path, write: Callable[[str], None], overwrite: bool) -> Path:
    try:
        return atomic_write(path, write, overwrite=overwrite, what="image")
    except WriteError as err:
        raise ImageWriteError(str(err)) from err
