"""Loading every kind of image into float RGB (+ alpha), the 16-bit PNG codec, and atomic saving."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from hinr.io.images import (ImageReadError, ImageWriteError, UnsupportedFormatError, _read_png16,
                          load_image, save_image)


def _rgb8(h=6, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_png_round_trip_is_exact(tmp_path):
    array = _rgb8()
    Image.fromarray(array).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.rgb.shape == (3, 6, 7) and image.rgb.dtype == torch.float32
    assert image.alpha is None and not image.grey and image.bits == 8
    assert torch.equal(image.rgb, torch.from_numpy(array).permute(2, 0, 1).float() / 255)
    save_image(tmp_path / "b.png", image.rgb)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), array)


def test_grey_is_replicated_and_written_back_as_grey(tmp_path):
    grey = _rgb8()[..., 0]
    Image.fromarray(grey, mode="L").save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert image.grey and torch.equal(image.rgb[0], image.rgb[2])
    save_image(tmp_path / "out.png", image.rgb, grey=True)
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "L" and np.array_equal(np.asarray(out), grey)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_carried_separately_and_kept_by_png(tmp_path, mode):
    rng = np.random.default_rng(1)
    channels = 4 if mode == "RGBA" else 2
    array = rng.integers(0, 256, (5, 4, channels), dtype=np.uint8)
    Image.fromarray(array, mode=mode).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.alpha is not None and image.alpha.shape == (1, 5, 4)
    assert torch.equal(image.alpha[0], torch.from_numpy(array[..., -1]).float() / 255)
    assert torch.equal(image.rgb[0], torch.from_numpy(array[..., 0]).float() / 255)  # straight colour
    save_image(tmp_path / "b.png", image.rgb, alpha=image.alpha, grey=image.grey)
    with Image.open(tmp_path / "b.png") as out:
        assert out.mode == mode and np.array_equal(np.asarray(out), array)


def test_jpeg_output_flattens_alpha_onto_white(tmp_path):
    rgb, alpha = torch.zeros(3, 8, 8), torch.full((1, 8, 8), 0.5)  # half-transparent black
    alpha[:, :, 4:] = 0.0  # right half fully transparent
    save_image(tmp_path / "a.jpg", rgb, alpha=alpha)
    with Image.open(tmp_path / "a.jpg") as out:
        pixels = np.asarray(out).astype(int)
        assert out.mode == "RGB" and abs(pixels[:, :3].mean() - 128) <= 3
        assert pixels[:, 5:].min() >= 250  # transparent areas come out white, not black


def test_palette_with_transparency_gives_alpha(tmp_path):
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    loaded = load_image(tmp_path / "p.png")
    assert loaded.alpha is not None and loaded.alpha[0, 0, 0] == 0 and loaded.alpha[0, 1, 1] == 1
    assert loaded.rgb[:, 1, 1].tolist() == [1.0, 0.0, 0.0]


def test_cmyk_and_bilevel_are_converted(tmp_path):
    Image.new("CMYK", (3, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    red = load_image(tmp_path / "c.jpg").rgb[:, 1, 1]
    assert red[0] > 0.9 and red[1] < 0.1
    Image.new("1", (3, 3), 1).save(tmp_path / "b.png")
    assert load_image(tmp_path / "b.png").grey


def test_16bit_grey_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 257], [1000, 40000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    image = load_image(tmp_path / "g16.png")
    assert image.bits == 16 and image.grey
    assert torch.allclose(image.rgb[0].double(), torch.from_numpy(values / 65535.0), atol=1e-7)
    save_image(tmp_path / "out.png", image.rgb, grey=True, bits=16)
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode.startswith("I") and np.array_equal(np.asarray(out), values)


def _png16_with_filters(samples: np.ndarray) -> bytes:
    """A 16-bit RGB PNG whose rows cycle through all five filter types (a reference encoder)."""
    h, w, c = samples.shape
    rows = samples.astype(">u2").reshape(h, -1).view(np.uint8).astype(int)
    bpp, raw, prior = 2 * c, b"", np.zeros(rows.shape[1], int)
    for y in range(h):
        kind, line, out = y % 5, rows[y], []
        for i, v in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b = prior[i]
            cc = prior[i - bpp] if i >= bpp else 0
            p = a + b - cc
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - cc) else (
                b if abs(p - b) <= abs(p - cc) else cc)
            pred = [0, a, b, (a + b) // 2, paeth][kind]
            out.append((v - pred) % 256)
        raw += bytes([kind] + out)
        prior = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    colour = {3: 2, 4: 6}[c]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_decodes_every_filter_exactly(tmp_path, channels):
    samples = np.random.default_rng(2).integers(0, 65536, (10, 6, channels)).astype(np.uint16)
    (tmp_path / "c16.png").write_bytes(_png16_with_filters(samples))
    assert np.array_equal(_read_png16((tmp_path / "c16.png").read_bytes(), (6, 10, {3: 2, 4: 6}[channels])),
                          samples)
    image = load_image(tmp_path / "c16.png")
    assert image.bits == 16 and (image.alpha is not None) == (channels == 4)
    expected = torch.from_numpy(samples[..., :3].astype(np.float64) / 65535.0).permute(2, 0, 1)
    assert torch.allclose(image.rgb.double(), expected, atol=1e-7)
    save_image(tmp_path / "out.png", image.rgb, alpha=image.alpha, bits=16)
    again = load_image(tmp_path / "out.png")
    assert torch.equal(again.rgb, image.rgb)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"])
def test_every_output_format_writes_a_readable_file(tmp_path, suffix):
    save_image(tmp_path / f"x{suffix}", torch.rand(3, 9, 11), alpha=torch.rand(1, 9, 11))
    image = load_image(tmp_path / f"x{suffix}")
    assert (image.height, image.width) == (9, 11)
    assert not list(tmp_path.glob(".*.tmp"))


def test_unsupported_extension_is_refused(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.png"):
        save_image(tmp_path / "x.gifv", torch.rand(3, 4, 4))


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageWriteError, match="disk full"):
        save_image(tmp_path / "x.jpg", torch.rand(3, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ImageWriteError, match="choose another output"):
        save_image(tmp_path / "file" / "x.png", torch.rand(3, 4, 4))


def _truncated_png(tmp_path):
    Image.fromarray(_rgb8(40, 40)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.png"


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("folder", "is a folder"),
    ("empty", "empty"),
    ("text", "not an image"),
    ("truncated", "truncated or corrupt"),
    ("truncated16", "truncated or corrupt"),
])
def test_bad_inputs_name_the_file_and_the_fix(tmp_path, case, message):
    path = {"missing": tmp_path / "nope.png", "folder": tmp_path, "empty": tmp_path / "e.png",
            "text": tmp_path / "t.png", "truncated16": tmp_path / "c16.png"}.get(case)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("hello, not a picture")
    elif case == "truncated":
        path = _truncated_png(tmp_path)
    elif case == "truncated16":
        data = _png16_with_filters(np.zeros((8, 8, 3), np.uint16))
        path.write_bytes(data[:60])
    with pytest.raises(ImageReadError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("quality", [0, 101])
def test_save_refuses_a_quality_out_of_range_and_writes_nothing(tmp_path, quality):
    with pytest.raises(ValueError, match="quality must be from 1 to 100"):
        save_image(tmp_path / "a.jpg", torch.zeros(3, 4, 4), quality=quality)
    assert list(tmp_path.iterdir()) == []
