"""Photos keep their metadata through `hinr upscale`: the ICC profile byte for byte, EXIF (read
back with exifread, a reader independent of Pillow) with the orientation reset and the new size,
XMP, and the GPS position only when asked; --strip-metadata writes none; BMP says it holds none."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

exifread = pytest.importorskip("exifread")

from cli_helpers import run  # noqa: E402
from hinr.io.images import _write_png16, load_image, save_image  # noqa: E402
from hinr.io.metadata import read_metadata  # noqa: E402

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
       b'tiff:Orientation="6" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Holiday</dc:title>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')
PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "EOS 5D", orientation
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09", 0xA002: 40, 0xA003: 30}
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0)}
    return exif


def _photo(path, *, orientation: int = 6):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8))
    options = dict(exif=_exif(orientation).tobytes(), icc_profile=PROFILE)
    if path.suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        options["pnginfo"] = info
    else:
        options["xmp"] = XMP
    image.save(path, **options)
    return path


def _tags(path) -> dict[str, str]:
    with open(path, "rb") as handle:
        return {k: str(v) for k, v in exifread.process_file(handle, details=False).items()}


def _xmp(image: Image.Image) -> bytes:
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or \
        getattr(image, "tag_v2", {}).get(700) or b""
    return xmp.encode() if isinstance(xmp, str) else bytes(xmp)


@pytest.mark.parametrize("source", ["m.jpg", "m.png"])
@pytest.mark.parametrize("target", ["o.jpg", "o.png", "o.webp", "o.tif"])
def test_profile_exif_and_xmp_survive(tmp_path, capsys, monkeypatch, source, target):
    src = _photo(tmp_path / source)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / target,
                       "--weights", "default")
    assert code == 0, err
    with Image.open(tmp_path / target) as out:
        assert out.size == (60, 80)  # upright: the EXIF orientation 6 was applied to the pixels
        assert out.info.get("icc_profile") == PROFILE
        assert b'tiff:Orientation="1"' in _xmp(out) and b"purl.org/dc" in _xmp(out)
        exif = out.getexif()
        if target.endswith(".webp"):  # exifread does not read WebP: Pillow's reader there
            assert exif[0x0110] == "EOS 5D" and exif[0x0112] == 1
            assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
            assert 0x8825 not in exif
            return
    tags = _tags(tmp_path / target)
    assert tags["Image Make"] == "Canon" and tags["Image Model"] == "EOS 5D"
    assert tags["EXIF DateTimeOriginal"] == "2024:05:06 07:08:09"
    assert tags["Image Orientation"] == "Horizontal (normal)"  # reset to 1: pixels are upright
    if "EXIF ExifImageWidth" in tags:
        assert (tags["EXIF ExifImageWidth"], tags["EXIF ExifImageLength"]) == ("60", "80")
    assert not any(key.startswith("GPS") for key in tags)  # dropped unless --keep-gps


def test_keep_gps_and_strip_metadata(tmp_path, capsys, monkeypatch):
    src = _photo(tmp_path / "m.jpg")
    code, _, _ = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "g.jpg",
                     "--keep-gps")
    assert code == 0 and _tags(tmp_path / "g.jpg")["GPS GPSLatitudeRef"] == "N"
    code, _, _ = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "s.jpg",
                     "--strip-metadata")
    assert code == 0 and _tags(tmp_path / "s.jpg") == {}
    with Image.open(tmp_path / "s.jpg") as out:
        assert "icc_profile" not in out.info and not _xmp(out)


def test_bmp_says_once_it_holds_no_metadata(tmp_path, capsys, monkeypatch):
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.png")
    code, _, err = run(capsys, monkeypatch, "upscale", a, b, "--scale", "2", "-o", f"{tmp_path}/out/",
                       "--weights", "default")
    assert code == 0  # out/a.png, out/b.png: PNG keeps it
    code, _, err = run(capsys, monkeypatch, "upscale", a, "--scale", "2", "-o", tmp_path / "a.bmp")
    assert code == 0 and sum("BMP holds no metadata" in line for line in err.splitlines()) == 1


def test_corrupt_exif_is_dropped_with_one_warning(tmp_path, capsys, monkeypatch):
    image = Image.new("RGB", (32, 32), (40, 80, 120))
    image.save(tmp_path / "c.jpg", exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\xff\xff\xff\xff garbage",
               icc_profile=b"not a real profile, still copied")
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "c.jpg", "--scale", "2", "-o",
                       tmp_path / "o.png")
    assert code == 0, err
    assert sum("EXIF block cannot be read" in line for line in err.splitlines()) == 1
    with Image.open(tmp_path / "o.png") as out:
        assert out.info.get("icc_profile") == b"not a real profile, still copied"


def test_16bit_png_keeps_profile_and_exif(tmp_path):
    samples = np.random.default_rng(2).integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    _write_png16(str(tmp_path / "s.png"), samples)
    loaded = load_image(tmp_path / "s.png")
    assert loaded.bits == 16 and not loaded.metadata
    with Image.open(_photo(tmp_path / "m.png", orientation=1)) as source:
        loaded.metadata = read_metadata(source, "m.png")  # a profile and EXIF to write back
    save_image(tmp_path / "o.png", loaded.rgb, bits=16, metadata=loaded.metadata)
    again = load_image(tmp_path / "o.png")
    assert again.bits == 16 and again.metadata.icc == PROFILE
    tags = _tags(tmp_path / "o.png")
    assert tags["Image Model"] == "EOS 5D" and tags["EXIF DateTimeOriginal"] == "2024:05:06 07:08:09"


def test_encode_records_it_and_render_writes_it_without_gps(tmp_path, capsys, monkeypatch):
    src = _photo(tmp_path / "m.jpg", orientation=1)
    latents = tmp_path / "m.latents.safetensors"
    code, _, err = run(capsys, monkeypatch, "encode", src, "-o", latents, "--weights", "default")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "render", latents, "--res", "96", "-o", tmp_path / "r.png")
    assert code == 0, err
    with Image.open(tmp_path / "r.png") as out:
        assert out.info.get("icc_profile") == PROFILE
        assert b"purl.org/dc" in _xmp(out)
    tags = _tags(tmp_path / "r.png")
    assert tags["Image Model"] == "EOS 5D" and tags["EXIF DateTimeOriginal"] == "2024:05:06 07:08:09"
    assert not any(key.startswith("GPS") for key in tags)
    code, _, _ = run(capsys, monkeypatch, "render", latents, "--res", "96", "-o", tmp_path / "s.png",
                     "--strip-metadata")
    assert code == 0 and _tags(tmp_path / "s.png") == {}


GPS_XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
           b'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
           b'exif:GPSLatitude="43,28.025N" exif:GPSLongitude="11,52.5E" photoshop:City="Siena">'
           b'<exif:GPSAltitude>120/1</exif:GPSAltitude><dc:title xmlns:dc="http://purl.org/dc/elements/1.1/">'
           b'Piazza</dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


@pytest.mark.parametrize("target", ["o.jpg", "o.png", "o.webp", "o.tif"])
def test_gps_in_xmp_never_reaches_the_output_unless_asked(tmp_path, capsys, monkeypatch, target):
    src = tmp_path / "gps.jpg"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(src, xmp=GPS_XMP)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / target)
    assert code == 0, err
    data = (tmp_path / target).read_bytes()
    assert b"GPS" not in data and b"43,28" not in data and b"Siena" not in data
    with Image.open(tmp_path / target) as out:
        assert b"Piazza" in _xmp(out)  # the rest of the packet is kept
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / f"k{target}",
                       "--keep-gps")
    assert code == 0 and b"43,28.025N" in (tmp_path / f"k{target}").read_bytes()


@pytest.mark.parametrize("packet", [b'<x:xmpmeta><rdf:Description tiff:Orientation="6" <broken',
                                    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x tiff:Orientation="6"/>'])
def test_malformed_xmp_is_dropped_with_one_warning_and_never_rotates(tmp_path, capsys, monkeypatch, packet):
    src = tmp_path / "bad.jpg"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(src, xmp=packet)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "o.jpg")
    assert code == 0, err
    assert sum("XMP block is not kept" in line for line in err.splitlines()) == 1
    with Image.open(tmp_path / "o.jpg") as out:
        assert out.size == (80, 60) and not _xmp(out)


def test_orientation_comes_from_exif_only(tmp_path, capsys, monkeypatch):
    """A well-formed XMP tiff:Orientation without an EXIF one: browsers show the picture as stored,
    and so does hinr (Pillow alone would rotate it)."""
    src = tmp_path / "x.jpg"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(src, xmp=XMP)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "o.png")
    assert code == 0, err
    with Image.open(tmp_path / "o.png") as out:
        assert out.size == (80, 60) and b'tiff:Orientation="1"' in _xmp(out)


@pytest.mark.parametrize("block", ["exif", "xmp"])
def test_metadata_too_large_for_a_jpeg_is_dropped_with_one_warning(tmp_path, capsys, monkeypatch, block):
    src = tmp_path / "big.png"
    info = PngImagePlugin.PngInfo()
    if block == "exif":
        exif = Image.Exif()
        exif[0x010E] = "x" * 100_000  # ImageDescription, 100 KB
        options = dict(exif=exif.tobytes())
    else:
        packet = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
                  b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
                  b"<dc:description>" + b"x" * 100_000 + b"</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>")
        info.add_itxt("XML:com.adobe.xmp", packet.decode())
        options = dict(pnginfo=info)
    Image.new("RGB", (40, 30), (90, 120, 150)).save(src, **options)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "o.jpg")
    assert code == 0, err
    assert sum("too large for a JPEG" in line for line in err.splitlines()) == 1
    assert Image.open(tmp_path / "o.jpg").size == (80, 60)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", "2", "-o", tmp_path / "o.png")
    assert code == 0 and "too large" not in err  # a PNG holds it
