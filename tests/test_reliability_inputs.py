"""No silent wrong results and no "internal error" for the user's own mistakes: rotated 16-bit
PNGs, damaged data, transparency into JPEG, animations, bad hub names, full or read-only disks,
newer latents, dangling links, huge images and temporary files left by a killed writer."""

from __future__ import annotations

import errno
import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import files, photo, run
from hinr.atomic import WriteError, atomic_write, sweep_stale
from hinr.io.images import ImageReadError, _write_png16, load_image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png16(path: Path, samples: np.ndarray, *, orientation: int | None = None) -> Path:
    _write_png16(str(path), samples)
    if orientation is not None:  # an eXIf chunk right after IHDR
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = path.read_bytes()
        path.write_bytes(data[:33] + _chunk(b"eXIf", exif.tobytes()[6:]) + data[33:])
    return path


def _samples(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 65536, (h, w, 3), dtype=np.uint16)


def test_16bit_png_orientation_rotates_pixels_not_just_size(tmp_path):
    samples = _samples(40, 64)
    image = load_image(_png16(tmp_path / "r.png", samples, orientation=6))
    upright = np.rot90(samples, k=-1)  # orientation 6: stored rotated, shown turned clockwise
    assert (image.height, image.width) == (64, 40)
    expected = torch.from_numpy(upright.astype(np.float32) / 65535).permute(2, 0, 1)
    assert torch.allclose(image.rgb, expected) and image.bits == 16


def test_16bit_png_with_a_bad_crc_is_refused_like_8bit(tmp_path):
    path = _png16(tmp_path / "c.png", _samples(32, 32))
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # damage the compressed data: the chunk's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="CRC mismatch in its IDAT chunk"):
        load_image(path)


def _damaged_jpeg(path: Path) -> Path:
    yy, xx = np.mgrid[0:128, 0:128]
    buffer = io.BytesIO()
    Image.fromarray(np.stack([xx * 2, yy * 2, xx + yy], -1).astype(np.uint8)).save(buffer, "JPEG",
                                                                                  quality=90)
    data = buffer.getvalue()
    middle = data.index(b"\xff\xda") + (len(data) - data.index(b"\xff\xda")) // 2
    garbage = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    path.write_bytes(data[:middle] + garbage + data[middle:])
    return path


def test_damaged_jpeg_data_is_said(tmp_path, capsys, monkeypatch):
    path = _damaged_jpeg(tmp_path / "d.jpg")
    assert any("damaged JPEG data" in note for note in load_image(path).notes)
    code, _, err = run(capsys, monkeypatch, "upscale", path, "--scale", "2", "-o", tmp_path / "o.png")
    warnings = [line for line in err.splitlines() if "damaged JPEG data" in line]
    assert code == 0 and len(warnings) == 1 and "d.jpg" in warnings[0]


def test_sound_jpeg_has_no_notes(tmp_path):
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(tmp_path / "ok.jpg", quality=80)
    assert load_image(tmp_path / "ok.jpg").notes == []


def test_transparency_into_jpeg_is_flattened_on_white_and_said(tmp_path, capsys, monkeypatch):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "t.png", "--scale", "2", "-o",
                       tmp_path / "t.jpg")
    assert code == 0 and "flattened onto white" in err
    with Image.open(tmp_path / "t.jpg") as out:
        assert np.asarray(out).min() >= 250


def test_first_frame_only_is_said(tmp_path, capsys, monkeypatch):
    frames = [Image.new("RGB", (32, 32), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "a.gif", "--scale", "2", "-o",
                       tmp_path / "a.png")
    assert code == 0 and "a.gif has 3 frames: only the first is upscaled" in err


@pytest.mark.parametrize("spec", ["hf:../..", "hf:a/b:../../etc/passwd", "hf:a/b:/etc/passwd"])
def test_hub_paths_outside_a_repository_are_user_errors(tmp_path, capsys, monkeypatch, spec):
    code, _, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "p.png"), "--scale", "2",
                       "--weights", spec, "-o", tmp_path / "o.png")
    assert code == 1 and "internal error" not in err and "outside the repository" in err
    assert len(err.strip().splitlines()) == 1


def test_read_only_or_full_disk_is_one_line(capsys):
    from hinr.cli.errors import report

    for number, words in ((errno.EROFS, "choose a writable place"), (errno.ENOSPC, "free some space")):
        code = report(OSError(number, "nope", "/somewhere/run"))
        err = capsys.readouterr().err
        assert code == 1 and "internal error" not in err and words in err and "/somewhere/run" in err


def test_safetensors_disk_full_becomes_a_write_error(tmp_path):
    class SafetensorError(Exception):
        pass

    def full(tmp):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                              "message: \"No space left on device\" })")

    with pytest.raises(WriteError, match="no space left on device"):
        atomic_write(tmp_path / "x.safetensors", full)
    assert files(tmp_path) == set()


def test_disk_full_at_the_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    from hinr.train import TrainConfig, Trainer

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        photo(folder / f"p{i}.png", 64, 64, seed=i)
    cfg = TrainConfig(data=str(folder), preset="tiny", steps=3, batch_size=2, queries=32,
                      val_images=1, val_every=100, save_every=2, hr_size=64)
    trainer = Trainer(cfg, tmp_path / "run")

    def full() -> None:
        raise WriteError("cannot write model (no space left on device)")

    monkeypatch.setattr(trainer, "save", full)
    with pytest.raises(WriteError):
        trainer.fit()
    assert not (tmp_path / "run").exists()


def test_latents_from_a_newer_hinr_say_so(tmp_path, capsys, monkeypatch):
    from safetensors.torch import save_file

    save_file({"tokens": torch.zeros(1, 4, 8), "inputs": torch.zeros(1, 3, 32, 32)},
              str(tmp_path / "new.safetensors"), metadata={"hinr_latents": "2"})
    code, _, err = run(capsys, monkeypatch, "render", tmp_path / "new.safetensors", "--res", "64",
                       "-o", tmp_path / "o.png")
    assert code == 1 and "made by a newer hinr" in err and "reads format 1" in err


def test_dangling_symlink_output_refused_before_work(tmp_path, capsys, monkeypatch):
    link = tmp_path / "out.png"
    link.symlink_to(tmp_path / "missing" / "target.png")
    code, _, err = run(capsys, monkeypatch, "upscale", photo(tmp_path / "p.png"), "--scale", "2",
                       "-o", link)
    assert code == 1 and "symbolic link" in err and len(err.strip().splitlines()) == 1
    assert link.is_symlink() and not (tmp_path / "missing").exists()


def test_large_legal_image_gets_hinrs_own_line(tmp_path, capsys, monkeypatch):
    Image.new("RGB", (40, 40), (10, 20, 30)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,600 px: over it, under twice it
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "big.png", "--scale", "2", "-o",
                       tmp_path / "o.png")
    assert code == 0 and "DecompressionBombWarning" not in err
    assert sum("safety limit" in line for line in err.splitlines()) == 1


def test_stale_temp_files_of_a_dead_writer_are_swept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".out.png.hinr{gone}-abc123.tmp"
    alive = tmp_path / f".out.png.hinr{__import__('os').getppid()}-def456.tmp"
    other = tmp_path / ".notes.txt.abc.tmp"  # not hinr's naming: never touched
    for path in (stale, alive, other):
        path.write_text("x")
    atomic_write(tmp_path / "out.png", lambda tmp: Path(tmp).write_bytes(b"done"))
    assert not stale.exists() and alive.exists() and other.exists()
    assert (tmp_path / "out.png").read_bytes() == b"done"
    assert sweep_stale(tmp_path) == []


def test_far_smaller_output_reduces_while_decoding(tmp_path, capsys, monkeypatch):
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 400, 3), np.uint8)).save(
        tmp_path / "w.png")
    assert load_image(tmp_path / "w.png", at_least=(50, 40)).rgb.shape == (3, 100, 134)  # ×3 box, edge kept
    assert load_image(tmp_path / "w.png").rgb.shape == (3, 300, 400)
    Image.new("RGB", (800, 600), (50, 100, 150)).save(tmp_path / "j.jpg", quality=90)
    assert load_image(tmp_path / "j.jpg", at_least=(50, 50)).rgb.shape == (3, 150, 200)  # DCT 1/4
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "w.png", "--size", "40x30", "-o",
                       tmp_path / "small.png")
    assert code == 0, err
    with Image.open(tmp_path / "small.png") as out:
        assert out.size == (40, 30)


def test_a_large_16bit_png_is_reduced_while_decoding(tmp_path, capsys, monkeypatch):
    """A 16-bit PNG far larger than the output is decoded through Pillow's row decoder and
    reduced (the battery's 13000² RGBA to 64 px took minutes and gigabytes); the result stays a
    16-bit PNG with the input's colours."""
    import png as pypng

    from cli_helpers import run

    side = 768
    ramp = (np.linspace(0, 65535, side)[None, :, None] * np.ones((side, 1, 1))).astype(np.uint16)
    rgba = np.concatenate([ramp, ramp[:, ::-1], np.full_like(ramp, 30000), np.full_like(ramp, 65535)], -1)
    with open(tmp_path / "big.png", "wb") as handle:
        pypng.Writer(side, side, greyscale=False, alpha=True, bitdepth=16).write(
            handle, rgba.reshape(side, -1))
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "big.png", "--size", "32", "-o",
                       tmp_path / "o.png", "--weights", "default")
    assert code == 0, err
    width, height, rows, info = pypng.Reader(filename=str(tmp_path / "o.png")).read()
    out = np.array(list(rows), dtype=np.float64).reshape(height, width, -1)
    assert (width, height, info["bitdepth"]) == (32, 32, 16)
    assert abs(out[..., 2].mean() - 30000) < 700 and abs(out[..., 0].mean() - 32767) < 700  # 1 % of range
