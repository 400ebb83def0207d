"""Reliability of what hinr reads and writes (issue 11): one atomic writer that never clobbers and
respects the umask, errors under HinrError, bounded and exact 16-bit PNG decoding, weights and
latents checked before use, hf: weights failing fast offline."""

import json
import os
import re
import socket
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import hinr
from hinr import HINR, CheckpointError, load_model, preset, save_model
from hinr.store.checkpoint import CONFIG_KEY, read_metadata
from hinr.errors import HinrError, OutputExistsError
from hinr.io.images import ImageReadError, load_image, save_image
from hinr.store.latents import LatentsError, load_latents, save_latents

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return HINR(preset("tiny", residual=True)).eval()


# --- the one writer: no clobbering, umask, nothing left behind ----------------------------------

def _writers(tmp_path, model):
    from hinr.evaluation.report import write_results
    from hinr.train.plot import plot_metrics

    latents = model.encode(torch.rand(1, 3, 32, 32))
    return {
        "image": lambda overwrite: save_image(tmp_path / "a.png", torch.rand(3, 4, 4), overwrite=overwrite),
        "image16": lambda overwrite: save_image(tmp_path / "b.png", torch.rand(3, 4, 4), bits=16,
                                                overwrite=overwrite),
        "weights": lambda overwrite: save_model(model, tmp_path / "m.safetensors", overwrite=overwrite),
        "latents": lambda overwrite: save_latents(tmp_path / "l.safetensors", latents, model=model,
                                                  sources=["x.png"], input_sizes=[(32, 32)],
                                                  overwrite=overwrite),
    }, write_results, plot_metrics


def test_writers_refuse_an_existing_file_unless_overwrite(tmp_path, tiny_model):
    writers, _, _ = _writers(tmp_path, tiny_model)
    for name, write in writers.items():
        path = write(False)
        before = path.read_bytes()
        with pytest.raises(OutputExistsError, match="--overwrite"):
            write(False)
        assert path.read_bytes() == before, name
        write(True)
    assert not list(tmp_path.glob(".*.tmp"))


def test_writers_respect_the_umask(tmp_path, tiny_model):
    writers, _, plot_metrics = _writers(tmp_path, tiny_model)
    old = os.umask(0o027)
    try:
        paths = [write(False) for write in writers.values()]
        plot_metrics([{"step": 1, "loss": 0.1}], tmp_path / "metrics.png")
        paths.append(tmp_path / "metrics.png")
    finally:
        os.umask(old)
    for path in paths:
        assert path.stat().st_mode & 0o777 == 0o640, path


def test_eval_results_refuse_to_replace_earlier_results(tmp_path, monkeypatch):
    from hinr.evaluation import report as eval_report

    monkeypatch.setattr(eval_report, "result_json", lambda result: {"ok": 1})
    monkeypatch.setattr(eval_report, "markdown_table", lambda result: "| ok |\n")
    monkeypatch.setattr(eval_report, "draw_grid", lambda result: Image.new("RGB", (4, 4)))
    (tmp_path / "results.md").write_text("earlier results")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        eval_report.write_results(object(), tmp_path)
    assert (tmp_path / "results.md").read_text() == "earlier results"
    assert not (tmp_path / "results.json").exists()  # nothing half-replaced
    eval_report.write_results(object(), tmp_path, overwrite=True)
    assert json.loads((tmp_path / "results.json").read_text()) == {"ok": 1}


def test_no_writer_bypasses_atomic_write():
    """The whole class: only hinr/atomic.py renames a file into place or sets its mode."""
    root = Path(hinr.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "atomic.py":
            continue
        text = path.read_text()
        for pattern in (r"os\.replace\(", r"os\.rename\(", r"\.replace\(path\)", r"chmod\(", r"0o644"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(root)}: {pattern}")
    assert offenders == []


def test_library_errors_are_hinr_errors():
    from hinr.atomic import WriteError
    from hinr.errors import (DatasetCorruptError, DatasetNotFoundError, EmptyDatasetError,
                                  HinrDataError)
    from hinr.io.images import ImageWriteError, UnsupportedFormatError
    from hinr.train.state import TrainStateError

    for kind in (HinrDataError, DatasetNotFoundError, DatasetCorruptError, EmptyDatasetError,
                 ImageReadError, ImageWriteError, UnsupportedFormatError, CheckpointError,
                 LatentsError, TrainStateError, WriteError):
        assert issubclass(kind, HinrError), kind


# --- 16-bit PNG: exact, fast, bounded ----------------------------------------------------------

def test_16bit_png_written_by_libpng_is_read_exactly():
    """tests/data/libpng_rgba16.png was written by OpenCV (libpng) from
    value[y, x, k] = (3001·x + 1777·y + 9000·k) mod 65536, 12×20, RGBA."""
    y, x = np.mgrid[0:12, 0:20]
    samples = np.stack([(x * 3001 + y * 1777 + k * 9000) % 65536 for k in range(4)], -1)
    image = load_image(DATA / "libpng_rgba16.png")
    assert image.bits == 16 and not image.grey and image.alpha is not None
    got = torch.cat([image.rgb, image.alpha]).permute(1, 2, 0).double().numpy() * 65535.0
    assert np.array_equal(np.rint(got).astype(np.int64), samples)


def _paeth_png16(samples: np.ndarray) -> bytes:
    """A 16-bit RGB PNG with every row Paeth-filtered (rows vectorised: a fast test encoder)."""
    h, w, c = samples.shape
    rows = samples.astype(">u2").reshape(h, -1).view(np.uint8).astype(np.int32)
    bpp, out, prior = 2 * c, [], np.zeros(rows.shape[1], np.int32)
    for line in rows:
        left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        p = left + prior - upleft
        pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(bytes([4]) + ((line - pred) & 255).astype(np.uint8).tobytes())
        prior = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(out), 9)) + chunk(b"IEND", b""))


def test_16bit_paeth_png_decodes_fast_and_exactly(tmp_path):
    y, x = np.mgrid[0:1024, 0:1024]
    samples = np.stack([(x * 31 + y * 17 + k * 5000) % 65536 for k in range(3)], -1).astype(np.uint16)
    (tmp_path / "p.png").write_bytes(_paeth_png16(samples))
    start = time.perf_counter()
    image = load_image(tmp_path / "p.png")
    seconds = time.perf_counter() - start
    assert np.array_equal(np.rint(image.rgb.permute(1, 2, 0).double().numpy() * 65535), samples)
    assert seconds < 1.0, f"{seconds:.2f} s (the hand-written decoder took 1.5 s, libspng 0.02 s)"


def test_pixel_limit_is_applied_before_a_16bit_decode(tmp_path, monkeypatch):
    (tmp_path / "big.png").write_bytes(_paeth_png16(np.zeros((60, 60, 3), np.uint16)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3600 px > 2 × 1000, as Pillow refuses
    decoded = []
    import pyspng

    monkeypatch.setattr(pyspng, "load", lambda *a, **k: decoded.append(1))
    with pytest.raises(ImageReadError, match="pixels") as info:
        load_image(tmp_path / "big.png")
    assert str(tmp_path / "big.png") in str(info.value) and not decoded


# --- weights: checked before anything is built -------------------------------------------------

def _rewrite(path: Path, *, config: dict | None = None, tensors: dict | None = None) -> None:
    meta = read_metadata(path)
    if config is not None:
        meta[CONFIG_KEY] = json.dumps(config)
    save_file(tensors if tensors is not None else load_file(str(path)), str(path), metadata=meta)


def test_nan_in_weights_is_refused_naming_file_and_tensor(tmp_path, tiny_model):
    path = save_model(tiny_model, tmp_path / "m.safetensors")
    tensors = load_file(str(path))
    tensors["decoder.to_rgb.bias"][1] = float("nan")
    _rewrite(path, tensors=tensors)
    with pytest.raises(CheckpointError, match="decoder.to_rgb.bias.*NaN/Inf") as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_float_where_an_int_belongs_is_named(tmp_path, tiny_model):
    path = save_model(tiny_model, tmp_path / "m.safetensors")
    config = json.loads(read_metadata(path)[CONFIG_KEY])
    _rewrite(path, config={**config, "encoder_depth": 1.5})
    with pytest.raises(CheckpointError, match="encoder_depth is 1.5, expected a whole number") as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_huge_config_in_a_small_file_is_refused_before_reading_or_building(tmp_path, tiny_model,
                                                                            monkeypatch):
    import hinr.store.checkpoint as checkpoint

    path = save_model(tiny_model, tmp_path / "m.safetensors")
    config = json.loads(read_metadata(path)[CONFIG_KEY])
    built, read = [], []
    monkeypatch.setattr(checkpoint, "load_file", lambda *a, **k: read.append(1))
    real_hinr = checkpoint.HINR

    def spy(cfg):
        built.append(torch.empty(0).device.type)  # the default device the model is built on
        return real_hinr(cfg)

    monkeypatch.setattr(checkpoint, "HINR", spy)
    for change in ({"dim": 1024, "decoder_dim": 2048}, {"dim": 10**9}, {"encoder_depth": 10**6},
                   {"image_size": 65536, "patch_size": 1}):
        _rewrite(path, config={**config, **change})
        with pytest.raises(CheckpointError, match=str(path)):
            load_model(path)
    assert read == [] and set(built) <= {"meta"}


def test_load_model_without_argument_loads_the_shipped_weights_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = load_model()
    assert isinstance(model, HINR) and model.config.arch == "liif"  # weights/README.md


def test_load_model_takes_hf_names(tmp_path, monkeypatch, tiny_model):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    save_model(tiny_model, snapshot / "model.safetensors")
    (cache / "models--someone--tiny" / "refs").mkdir()
    (cache / "models--someone--tiny" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = hinr.load_model("hf:someone/tiny")
    assert torch.equal(loaded.decoder.to_rgb.weight, tiny_model.decoder.to_rgb.weight)


def test_hf_weights_without_network_fail_fast_in_one_line(tmp_path, monkeypatch):
    """No HF_HUB_OFFLINE, no network: no download attempt (and so no retries), one line."""
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    calls = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        return real(*args, **{**kwargs, "local_files_only": True})

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="cannot be reached") as info:
        load_model("hf:someone/tiny")
    assert time.perf_counter() - start < 10 and calls == [True]
    assert "\n" not in str(info.value)


# --- latents: damaged tokens and inputs name the file and the tensor ----------------------------

def _latents_file(tmp_path, model, **change):
    path = tmp_path / "l.safetensors"
    latents = model.encode(torch.rand(1, 3, 32, 32))
    save_latents(path, latents, model=model, sources=["a.png"], input_sizes=[(32, 32)])
    tensors, meta = load_file(str(path)), read_metadata(path)
    for name, edit in change.items():
        tensors[name] = edit(tensors[name])
    save_file(tensors, str(path), metadata=meta)
    return path


def _with_nan(t):
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


@pytest.mark.parametrize("name, message", [("tokens", "tokens"), ("inputs", "stored input pixels")])
def test_non_finite_latents_are_refused(tmp_path, tiny_model, name, message):
    path = _latents_file(tmp_path, tiny_model, **{name: _with_nan})
    with pytest.raises(LatentsError, match=message) as info:
        load_latents(path, model=tiny_model)
    assert str(path) in str(info.value) and "NaN/Inf" in str(info.value)


def test_wrongly_shaped_stored_inputs_are_blamed_not_the_tokens(tmp_path, tiny_model):
    path = _latents_file(tmp_path, tiny_model, inputs=lambda t: t[..., :16, :16].contiguous())
    with pytest.raises(LatentsError, match="stored inputs") as info:
        load_latents(path, model=tiny_model)
    assert "tokens" not in str(info.value) and str(path) in str(info.value)


def test_no_overwrite_holds_without_hard_links(tmp_path, monkeypatch):
    """File systems without link(2): the name is reserved exclusively, still never clobbered."""
    import errno

    from hinr.atomic import atomic_write

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("one"))
    assert (tmp_path / "a.txt").read_text() == "one"
    with pytest.raises(OutputExistsError):
        atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("two"))
    assert (tmp_path / "a.txt").read_text() == "one" and sorted(os.listdir(tmp_path)) == ["a.txt"]


@pytest.mark.parametrize("greyscale, alpha, interlace", [
    (False, False, True), (False, True, False), (True, False, True), (True, True, False)])
def test_16bit_png_written_by_pypng_keeps_16_bits(tmp_path, greyscale, alpha, interlace):
    """Written by pypng (pure Python), read by libspng; interlaced files too (they used to fall
    back to Pillow's 8 bits)."""
    png = pytest.importorskip("png")
    channels = (1 if greyscale else 3) + alpha
    samples = np.random.default_rng(5).integers(0, 65536, (9, 13, channels)).astype(np.uint16)
    with open(tmp_path / "w.png", "wb") as handle:
        png.Writer(13, 9, greyscale=greyscale, alpha=alpha, bitdepth=16, interlace=interlace).write(
            handle, samples.reshape(9, -1).tolist())
    image = load_image(tmp_path / "w.png")
    assert image.bits == 16 and image.grey == greyscale and (image.alpha is not None) == alpha
    planes = image.rgb[:1] if greyscale else image.rgb
    if alpha:
        planes = torch.cat([planes, image.alpha])
    got = np.rint(planes.permute(1, 2, 0).double().numpy() * 65535).astype(np.uint16)
    assert np.array_equal(got, samples)
