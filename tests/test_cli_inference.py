"""``hinr upscale / encode / render`` end to end in a temporary folder, with a tiny random model as
--weights, and every bad input: one line on stderr, exit 1 or 2, no traceback, no output file."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hinr import HINR, preset, save_model
from hinr.store.checkpoint import weights_fingerprint
from hinr.store.latents import load_latents

from cli_helpers import run


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A residual model with the correction off: its renders are PIL's bicubic."""
    torch.manual_seed(0)
    model = HINR(preset("tiny", residual=True, locality=True, cell_input=True, local_pixels=4))
    return save_model(model, tmp_path_factory.mktemp("w") / "model.safetensors")


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    torch.manual_seed(1)
    model = HINR(preset("tiny", residual=True, locality=True, cell_input=True, local_pixels=4))
    return save_model(model, tmp_path_factory.mktemp("w2"))




def _photo(path, h=32, w=32, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    Image.fromarray(array[..., 0] if channels == 1 else array, mode=mode).save(path)
    return path


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*")}


# --- working commands -------------------------------------------------------------------------

def test_upscale_32_renders_bicubic(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "in.png")
    code, out, err = run(capsys, monkeypatch, "upscale", src, "--size", 96, "-o", tmp_path / "o.png",
                         "--weights", weights)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "o.png")
    with Image.open(src) as image:
        expected = np.asarray(image.resize((96, 96), Image.BICUBIC)).astype(int)
    result = np.asarray(Image.open(tmp_path / "o.png")).astype(int)
    assert result.shape == (96, 96, 3) and np.abs(result - expected).max() <= 1


def test_upscale_several_sizes_and_kinds_into_a_folder(tmp_path, capsys, monkeypatch, weights):
    a = _photo(tmp_path / "a.png", 48, 40, "RGBA")  # tiled, with alpha
    b = _photo(tmp_path / "b.jpg", 20, 12, "RGB")  # smaller than a tile
    g = _photo(tmp_path / "g.png", 32, 32, "L")
    code, out, err = run(capsys, monkeypatch, "upscale", a, b, g, "--scale", 2, "-o", tmp_path / "out",
                         "--weights", weights, "--batch-size", 3, "--chunk", 500)
    assert code == 0, err
    assert len(out.split()) == 3
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.mode == "RGBA" and image.size == (80, 96)
        alpha = np.asarray(image)[..., 3].astype(int)
    with Image.open(a) as source:
        expected = np.asarray(source.getchannel("A").resize((80, 96), Image.BICUBIC)).astype(int)
    assert np.abs(alpha - expected).max() <= 1
    assert Image.open(tmp_path / "out" / "b.jpg").size == (24, 40)  # a JPEG stays a JPEG
    assert Image.open(tmp_path / "out" / "g.png").mode == "L"


def test_size_forms(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "wide.png", 32, 64)
    cases = (("100", [], (100, 50), 0), ("90x40", [], (80, 40), 1), ("80x40", [], (80, 40), 0),
             ("90x40", ["--fit", "stretch"], (90, 40), 1), ("90x40", ["--fit", "cover"], (90, 40), 1))
    for i, (size, fit, expected, warned) in enumerate(cases):
        code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", size, *fit, "-o",
                           tmp_path / f"o{i}.webp", "--weights", weights)
        assert code == 0, err
        assert Image.open(tmp_path / f"o{i}.webp").size == expected
        assert sum("not the shape of" in line for line in err.splitlines()) == warned, err


def test_a_3_to_2_photo_fits_inside_1080p_with_one_warning(tmp_path, capsys, monkeypatch, weights):
    """The first-day bar: 3:2 to --size 1920x1080 is 1620×1080 (contain), said once; the default
    name is the size written."""
    src = _photo(tmp_path / "p.png", 40, 60)
    code, out, err = run(capsys, monkeypatch, "upscale", src, "--size", "1920x1080", "--weights", weights)
    assert code == 0, err
    assert Image.open(out.strip()).size == (1620, 1080) and out.strip().endswith("p_1620x1080.png")
    assert sum("warning" in line for line in err.splitlines()) == 1


def test_cover_keeps_the_middle(tmp_path, capsys, monkeypatch, weights):
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, 16:48] = 255  # white middle half, black quarters left and right
    Image.fromarray(image).save(tmp_path / "m.png")
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "m.png", "--size", "64x64", "--fit",
                       "cover", "-o", tmp_path / "c.png", "--weights", weights)
    assert code == 0, err
    out = np.asarray(Image.open(tmp_path / "c.png").convert("L")).astype(int)
    assert out.shape == (64, 64) and out[:, 8:56].mean() > 240  # only the white middle is left


@pytest.mark.parametrize("args, message", [(["--scale", "2", "--fit", "cover"], "--fit applies"),
                                           (["--size", "64", "--fit", "cover"], "--fit applies"),
                                           (["--size", "64x32", "--fit", "squash"], "--fit must be one of")])
def test_bad_fit_is_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, weights, args, message):
    src = _photo(tmp_path / "a.png", 32, 32)
    code, out, err = run(capsys, monkeypatch, "upscale", src, *args, "-o", tmp_path / "o.png", "--weights", weights)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_16bit_grey_stays_16bit(tmp_path, capsys, monkeypatch, weights):
    values = (np.arange(32 * 32).reshape(32, 32) * 61).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "g16.png", "--size", 64, "-o",
                       tmp_path / "o.png", "--weights", weights)
    assert code == 0, err
    with Image.open(tmp_path / "o.png") as image:
        assert image.mode.startswith("I") and image.size == (64, 64)
        assert len(np.unique(np.asarray(image))) > 256  # more levels than 8 bits hold


def test_encode_then_render_matches_upscale(tmp_path, capsys, monkeypatch, weights):
    a, b = _photo(tmp_path / "a.png", seed=1), _photo(tmp_path / "b.png", 64, 48, seed=2)
    latents = tmp_path / "lat.safetensors"
    code, _, err = run(capsys, monkeypatch, "encode", a, b, "-o", latents, "--weights", weights)
    assert code == 0, err
    found = load_latents(latents)
    model = HINR(preset("tiny", residual=True, locality=True, cell_input=True, local_pixels=4))
    assert found.latents.tokens.shape == (2, model.config.num_latents, model.config.dim)
    assert found.latents.images.shape == (2, 3, 32, 32)
    assert found.sources == ["a.png", "b.png"] and found.input_sizes == [(32, 32), (48, 64)]
    assert found.weights_hash == weights_fingerprint(__import__("hinr").load_model(weights))
    assert found.version and '"arch": "hybrid"' in found.config_json

    code, out, err = run(capsys, monkeypatch, "render", latents, "--size", "72x56", "-o", tmp_path / "r",
                         "--weights", weights, "--chunk", 1000, "--batch-size", 2)
    assert code == 0, err
    assert _files(tmp_path / "r") == {"a.png", "b.png"}
    code, _, err = run(capsys, monkeypatch, "upscale", a, "--size", "72x56", "--fit", "stretch", "-o",
                       tmp_path / "u.png", "--weights", weights)
    assert code == 0, err
    rendered = np.asarray(Image.open(tmp_path / "r" / "a.png")).astype(int)
    assert np.abs(rendered - np.asarray(Image.open(tmp_path / "u.png")).astype(int)).max() <= 1


def test_render_one_latent_to_a_file(tmp_path, capsys, monkeypatch, weights):
    latents = tmp_path / "l.safetensors"
    assert run(capsys, monkeypatch, "encode", _photo(tmp_path / "a.png"), "-o", latents, "-w", weights)[0] == 0
    code, _, err = run(capsys, monkeypatch, "render", latents, "--res", 40, "-o", tmp_path / "a.jpg",
                       "-w", weights)
    assert code == 0, err
    assert Image.open(tmp_path / "a.jpg").size == (40, 40)


def test_default_weights_are_shipped():
    from hinr.store.shipped import resolve_weights, shipped_weights

    assert shipped_weights().is_file()
    assert resolve_weights(None) == shipped_weights()


def test_hub_weights_from_the_offline_cache(tmp_path, capsys, monkeypatch, weights):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(weights.read_bytes())
    (cache / "models--someone--tiny" / "refs").mkdir()
    (cache / "models--someone--tiny" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = _photo(tmp_path / "a.png")
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 40, "-o", tmp_path / "o.png",
                       "--weights", "hf:someone/tiny")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 40, "-o", tmp_path / "p.png",
                       "--weights", "hf:someone/missing")
    assert code == 1 and "HF_HUB_OFFLINE" in err and len(err.splitlines()) == 1


def test_version_and_help(capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "--version")
    assert code == 0 and out.startswith("hinr ")
    for command in ("upscale", "encode", "render"):
        code, out, _ = run(capsys, monkeypatch, command, "--help")
        assert code == 0 and "Example" in out and "--weights" in out


# --- bad input --------------------------------------------------------------------------------

def _bad_image(tmp_path: Path, case: str) -> Path:
    if case == "not-an-image":
        (tmp_path / "x.png").write_text("definitely not a PNG")
    elif case == "truncated":
        _photo(tmp_path / "full.png", 64, 64)
        data = (tmp_path / "full.png").read_bytes()
        (tmp_path / "full.png").unlink()
        (tmp_path / "x.png").write_bytes(data[: len(data) // 2])
    elif case == "empty":
        (tmp_path / "x.png").write_bytes(b"")
    elif case == "directory":
        (tmp_path / "x.png").mkdir()
    return tmp_path / "x.png"


def _assert_clean_failure(code, err, expected_code, *, words, folder, before):
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hinr: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]
    assert _files(folder) == before  # no output and no temp file left behind


@pytest.mark.parametrize("command", ["upscale", "encode"])
@pytest.mark.parametrize("case, words", [
    ("not-an-image", ["x.png", "not an image"]),
    ("truncated", ["x.png", "truncated or corrupt"]),
    ("empty", ["x.png", "empty"]),
    ("missing", ["x.png", "does not exist"]),
    ("directory", ["x.png", "folder"]),
])
def test_bad_image_inputs(tmp_path, capsys, monkeypatch, weights, command, case, words):
    bad = _bad_image(tmp_path, case)
    out = tmp_path / ("o.png" if command == "upscale" else "o.safetensors")
    extra = ["--size", 64] if command == "upscale" else []
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, command, bad, *extra, "-o", out, "--weights", weights)
    if case == "directory" and command == "upscale":  # a folder input: here, one without images
        _assert_clean_failure(code, err, 2, words=["x.png", "holds no images"], folder=tmp_path, before=before)
        return
    _assert_clean_failure(code, err, 1, words=words, folder=tmp_path, before=before)


@pytest.mark.parametrize("size", ["0", "-3", "abc", "20000", "100x0", "17000x17000"])
def test_bad_sizes_are_usage_errors(tmp_path, capsys, monkeypatch, weights, size):
    src = _photo(tmp_path / "a.png")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", size, "-o", tmp_path / "o.png",
                       "--weights", weights)
    _assert_clean_failure(code, err, 2, words=["--force"] if size in ("20000", "17000x17000") else ["--size"],
                          folder=tmp_path, before=before)


@pytest.mark.parametrize("args, words", [
    (["--scale", "0"], ["--scale"]),
    (["--size", "64", "--scale", "2"], ["exactly one"]),
    ([], ["exactly one"]),
    (["--size", "64", "--chunk", "0"], ["--chunk"]),
    (["--size", "64", "--device", "tpu"], ["--device"]),
    (["--size", "64", "--precision", "half"], ["--precision"]),
    (["--size", "64", "--ensemble", "3"], ["--ensemble"]),
])
def test_bad_options_are_usage_errors(tmp_path, capsys, monkeypatch, weights, args, words):
    src = _photo(tmp_path / "a.png")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, *args, "-o", tmp_path / "o.png", "-w", weights)
    _assert_clean_failure(code, err, 2, words=words, folder=tmp_path, before=before)


def test_render_size_options(tmp_path, capsys, monkeypatch, weights):
    latents = tmp_path / "l.safetensors"
    assert run(capsys, monkeypatch, "encode", _photo(tmp_path / "a.png"), "-o", latents, "-w", weights)[0] == 0
    before = _files(tmp_path)
    for args, code_expected in ((["--res", "0"], 2), (["--res", "20000"], 2), ([], 2),
                                (["--res", "8", "--size", "8x8"], 2)):
        code, _, err = run(capsys, monkeypatch, "render", latents, *args, "-o", tmp_path / "r.png",
                           "-w", weights)
        _assert_clean_failure(code, err, code_expected, words=[], folder=tmp_path, before=before)


def test_unsupported_output_extension(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "a.png")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "o.xyz", "-w", weights)
    _assert_clean_failure(code, err, 2, words=["o.xyz", ".png"], folder=tmp_path, before=before)


@pytest.mark.parametrize("case", ["garbage", "truncated", "not-latents", "missing"])
def test_corrupt_latents(tmp_path, capsys, monkeypatch, weights, case):
    latents = tmp_path / "l.safetensors"
    if case == "garbage":
        latents.write_bytes(os.urandom(300))
    elif case == "truncated":
        assert run(capsys, monkeypatch, "encode", _photo(tmp_path / "a.png"), "-o", latents, "-w", weights)[0] == 0
        data = latents.read_bytes()
        latents.write_bytes(data[: len(data) - 1000])
    elif case == "not-latents":
        latents.write_bytes(weights.read_bytes())  # a model, not latents
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "render", latents, "--res", 64, "-o", tmp_path / "r.png",
                       "-w", weights)
    _assert_clean_failure(code, err, 1, words=["l.safetensors"], folder=tmp_path, before=before)


def test_latents_from_other_weights_are_refused(tmp_path, capsys, monkeypatch, weights, other_weights):
    latents = tmp_path / "l.safetensors"
    assert run(capsys, monkeypatch, "encode", _photo(tmp_path / "a.png"), "-o", latents, "-w", weights)[0] == 0
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "render", latents, "--res", 64, "-o", tmp_path / "r.png",
                       "-w", other_weights)
    _assert_clean_failure(code, err, 1, words=["other weights", "--weights"], folder=tmp_path, before=before)


def test_corrupt_weights(tmp_path, capsys, monkeypatch):
    src = _photo(tmp_path / "a.png")
    (tmp_path / "w.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    before = _files(tmp_path)
    for spec in (tmp_path / "w.safetensors", tmp_path / "nowhere.safetensors", tmp_path):
        code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "o.png",
                           "-w", spec)
        _assert_clean_failure(code, err, 1, words=[], folder=tmp_path, before=before)


def test_failed_run_creates_no_output_folder(tmp_path, capsys, monkeypatch):
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", a, b, "--size", 64, "-o", tmp_path / "new" / "out",
                       "-w", tmp_path / "missing.safetensors")
    _assert_clean_failure(code, err, 1, words=["missing.safetensors"], folder=tmp_path, before=before)


def test_same_stems_get_distinct_outputs(tmp_path, capsys, monkeypatch, weights):
    (tmp_path / "sub").mkdir()
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "sub" / "a.png")
    code, _, err = run(capsys, monkeypatch, "upscale", a, b, "--size", 40, "-o", tmp_path / "out", "-w", weights)
    assert code == 0, err
    assert _files(tmp_path / "out") == {"a.png", "a-2.png"}


def test_unwritable_output(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "a.png")
    (tmp_path / "file").write_text("a file, not a folder")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "file" / "o.png",
                       "-w", weights)
    _assert_clean_failure(code, err, 1, words=["cannot write"], folder=tmp_path, before=before)


def test_existing_output_needs_overwrite(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "a.png")
    (tmp_path / "o.png").write_bytes(b"keep me")
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "o.png", "-w", weights)
    _assert_clean_failure(code, err, 1, words=["--overwrite"], folder=tmp_path, before=before)
    assert (tmp_path / "o.png").read_bytes() == b"keep me"
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "o.png", "-w",
                       weights, "--overwrite")
    assert code == 0, err
    assert Image.open(tmp_path / "o.png").size == (64, 64)


def test_failure_mid_run_leaves_no_partial_file(tmp_path, capsys, monkeypatch, weights):
    import hinr.io.images

    def full_disk(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"half an image")
        raise OSError(28, "No space left on device")

    src = _photo(tmp_path / "a.png")
    monkeypatch.setattr(hinr.io.images.Image.Image, "save", full_disk)
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "o.jpg", "-w", weights)
    _assert_clean_failure(code, err, 1, words=["No space left"], folder=tmp_path, before=before)


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, weights):
    code, _, err = run(capsys, monkeypatch, "upscale", tmp_path / "missing.png", "--size", 64, "-o",
                       tmp_path / "o.png", "-w", weights, debug=True)
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("hinr: error:")


def test_real_process_exit_code_and_stderr(tmp_path, weights):
    result = subprocess.run([sys.executable, "-m", "hinr.cli.app", "upscale", str(tmp_path / "nope.png"),
                             "--size", "64", "-o", str(tmp_path / "o.png"), "-w", str(weights)],
                            capture_output=True, text=True, env={**os.environ, "HINR_DEBUG": "0"},
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"hinr: error: {tmp_path / 'nope.png'} does not exist: "
                                                  "check the path"]
    assert not (tmp_path / "o.png").exists()


# --- folders in, the formats people use out ------------------------------------------------------

def _tree(root):
    (root / "trip" / "day2").mkdir(parents=True)
    _photo(root / "trip" / "a.jpg", 32, 48)
    _photo(root / "trip" / "day2" / "b.png", 40, 40)
    _photo(root / "trip" / "day2" / "c.webp", 24, 32)
    (root / "trip" / "notes.txt").write_text("not an image")
    (root / "trip" / "day2" / "b.xmp").write_text("<x/>")
    return root / "trip"


def test_a_folder_in_mirrors_its_tree_and_keeps_each_format(tmp_path, capsys, monkeypatch, weights):
    trip = _tree(tmp_path)
    code, out, err = run(capsys, monkeypatch, "upscale", trip, "--scale", 2, "-o", f"{tmp_path}/big/",
                         "-w", weights)
    assert code == 0, err
    written = sorted(str(p.relative_to(tmp_path / "big")) for p in (tmp_path / "big").rglob("*") if p.is_file())
    assert written == ["a.jpg", "day2/b.png", "day2/c.webp"]
    assert Image.open(tmp_path / "big" / "a.jpg").format == "JPEG"
    assert Image.open(tmp_path / "big" / "day2" / "b.png").size == (80, 80)
    assert "2 file(s) in the input folder(s) are not images" in err


def test_format_and_quality(tmp_path, capsys, monkeypatch, weights):
    src = _photo(tmp_path / "a.jpg", 48, 48)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", 4, "--format", "webp", "--quality", 60,
                       "-o", f"{tmp_path}/w/", "-w", weights)
    assert code == 0, err
    assert Image.open(tmp_path / "w" / "a.webp").format == "WEBP"
    sizes = {}
    for q in (30, 95):
        code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", 4, "--quality", q, "-o",
                           tmp_path / f"q{q}.jpg", "-w", weights)
        assert code == 0, err
        sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
    assert sizes[30] < sizes[95]  # the quality reached the encoder


@pytest.mark.parametrize("args, message", [
    (["--format", "gif"], "--format must be one of"),
    (["--quality", "0"], "--quality must be from 1 to 100"),
    (["--quality", "101"], "--quality must be from 1 to 100"),
    (["--format", "png", "--quality", "80"], "png is lossless"),
    (["--quality", "80"], "pass --format jpeg or webp"),  # keep: the input is a PNG
])
def test_bad_format_options_are_one_line_exit_2(tmp_path, capsys, monkeypatch, weights, args, message):
    src = _photo(tmp_path / "a.png", 32, 32)
    before = _files(tmp_path)
    code, _, err = run(capsys, monkeypatch, "upscale", src, "--scale", 2, *args, "-o", f"{tmp_path}/o/",
                       "-w", weights)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert _files(tmp_path) == before


def test_bad_folder_inputs_are_one_line_exit_2(tmp_path, capsys, monkeypatch, weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    trip = _tree(tmp_path)
    for args, message in ([empty, "-o", f"{tmp_path}/o/"], "holds no images"), \
                         ([trip, "-o", f"{trip}/out/"], "is inside"), \
                         ([trip], "needs -o OUT/"):
        before = _files(tmp_path)
        code, _, err = run(capsys, monkeypatch, "upscale", *args, "--scale", 2, "-w", weights)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert _files(tmp_path) == before
