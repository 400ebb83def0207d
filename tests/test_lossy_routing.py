"""How a lossy file was coded is read back from it (a JPEG file's quality and chroma subsampling;
lossy or lossless WebP), and `hinr upscale` without --weights gives a JPEG file saved below
JPEG_WEIGHTS_BELOW (for its subsampling) and a lossy WebP file to the `jpeg` weights, anything
else to `default`; encode, render and eval follow the same rule."""

import io

import numpy as np
import pytest
from PIL import Image

from hinr.io.images import load_image
from hinr.errors import HinrUsageError
from hinr.io.coding import Coding, check_quality, estimate_quality, scaled_table, webp_is_lossy
from hinr.store.shipped import JPEG_WEIGHTS_BELOW, weights_for_input

from cli_helpers import run


def _noise(size: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _tables(image: Image.Image, **save) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **save)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.quantization


@pytest.mark.parametrize("subsampling", [0, 2])
def test_every_pillow_quality_is_read_back(subsampling):
    image = _noise()
    for quality in range(1, 101):
        assert estimate_quality(_tables(image, quality=quality, subsampling=subsampling)) == quality


@pytest.mark.parametrize("quality", [None, 1, 50, 100])
def test_a_quality_from_1_to_100_passes(quality):
    check_quality(quality, option="--quality")


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_a_quality_outside_1_to_100_names_its_option(quality):
    with pytest.raises(HinrUsageError, match=rf"^--jpeg must be from 1 to 100, got {quality}$"):
        check_quality(quality, option="--jpeg")


def test_greyscale_custom_and_missing_tables():
    assert estimate_quality(_tables(_noise().convert("L"), quality=80)) == 80
    assert estimate_quality({}) is None
    assert estimate_quality({1: [1] * 64}) is None  # no luminance table
    # tables of another encoder: the IJG quality that quantises as coarsely overall
    custom = {0: [v + 1 for v in scaled_table(range(1, 65), 50)]}
    assert 1 <= estimate_quality(custom) <= 100
    assert estimate_quality({0: [1] * 64, 1: [1] * 64}) == 100


def test_load_image_reports_how_jpeg_files_were_coded(tmp_path):
    _noise().save(tmp_path / "a.jpg", quality=62)
    _noise().save(tmp_path / "b.jpg", quality=88, subsampling=0)
    _noise().save(tmp_path / "c.jpg", quality=97, subsampling=1)
    _noise().convert("L").save(tmp_path / "d.jpg", quality=70)
    _noise().save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.jpg").coding == Coding("JPEG", 62, "4:2:0")
    assert load_image(tmp_path / "b.jpg").coding == Coding("JPEG", 88, "4:4:4")
    assert load_image(tmp_path / "c.jpg").coding == Coding("JPEG", 97, "4:2:2")
    assert load_image(tmp_path / "d.jpg").coding == Coding("JPEG", 70, "grey")
    assert load_image(tmp_path / "a.png").coding is None


def test_lossy_webp_is_told_from_lossless(tmp_path):
    image = _noise()
    with_alpha = image.copy()
    with_alpha.putalpha(128)
    image.save(tmp_path / "lossy.webp", quality=80)
    with_alpha.save(tmp_path / "lossy-alpha.webp", quality=80)  # VP8X, ALPH, then VP8
    image.save(tmp_path / "lossy-icc.webp", quality=80, icc_profile=b"\0" * 3001)  # odd-sized chunk
    image.save(tmp_path / "lossless.webp", lossless=True)
    with_alpha.save(tmp_path / "lossless-alpha.webp", lossless=True)
    frames = [_noise(seed=s) for s in range(2)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], quality=70)
    for name in ("lossy", "lossy-alpha", "lossy-icc", "anim"):
        assert webp_is_lossy(tmp_path / f"{name}.webp"), name
        assert load_image(tmp_path / f"{name}.webp").coding == Coding("WEBP", None, "4:2:0"), name
    for name in ("lossless", "lossless-alpha"):
        assert not webp_is_lossy(tmp_path / f"{name}.webp"), name
        assert load_image(tmp_path / f"{name}.webp").coding is None, name
    (tmp_path / "short.webp").write_bytes(b"RIFF\x10\0\0\0WEBPVP8X")
    assert not webp_is_lossy(tmp_path / "short.webp")


def test_the_rule():
    assert weights_for_input(None) == "default"
    assert weights_for_input(Coding("JPEG", None, "4:2:0")) == "default"
    for subsampling in ("4:2:0", "4:2:2", "4:4:4", "grey", "other"):
        below = JPEG_WEIGHTS_BELOW[subsampling]
        assert weights_for_input(Coding("JPEG", 40, subsampling)) == "jpeg"
        assert weights_for_input(Coding("JPEG", below - 1, subsampling)) == "jpeg"
        if below <= 100:
            assert weights_for_input(Coding("JPEG", below, subsampling)) == "default"
    assert weights_for_input(Coding("JPEG", 100, "4:2:0")) == "default"  # near-lossless
    assert weights_for_input(Coding("JPEG", 90, "4:2:0")) == "jpeg"
    assert weights_for_input(Coding("JPEG", 90, "4:4:4")) == "default"  # full colour: only low quality
    assert weights_for_input(Coding("JPEG", 70, "4:4:4")) == "jpeg"
    assert weights_for_input(Coding("WEBP", None, "4:2:0")) == "jpeg"  # lossy WebP


def test_upscale_without_weights_follows_the_rule(tmp_path, capsys, monkeypatch):
    image = _noise(seed=3)
    image.save(tmp_path / "low.jpg", quality=70)
    image.save(tmp_path / "clean.png")
    image.save(tmp_path / "lossy.webp", quality=80)
    outputs = {}
    for name in ("low.jpg", "clean.png", "lossy.webp"):
        for weights in (None, "default", "jpeg"):
            out = tmp_path / f"{name}-{weights}.png"
            args = ["upscale", tmp_path / name, "--size", 64, "-o", out]
            code, _, err = run(capsys, monkeypatch, *args, *(["--weights", weights] if weights else []))
            assert code == 0, err
            said = weights is None and name != "clean.png"  # the choice is said, once, on stderr
            assert ("'jpeg' weights" in err) == said and err.count("\n") == said
            outputs[name, weights] = np.asarray(Image.open(out))
    assert np.array_equal(outputs["low.jpg", None], outputs["low.jpg", "jpeg"])
    assert not np.array_equal(outputs["low.jpg", None], outputs["low.jpg", "default"])
    assert np.array_equal(outputs["clean.png", None], outputs["clean.png", "default"])
    assert not np.array_equal(outputs["clean.png", None], outputs["clean.png", "jpeg"])
    assert np.array_equal(outputs["lossy.webp", None], outputs["lossy.webp", "jpeg"])


def test_encode_picks_as_upscale_does_and_render_finds_the_encoder(tmp_path, capsys, monkeypatch):
    """encode → render without --weights gives upscale's pixels for a JPEG input and a PNG one."""
    image = _noise(seed=4)
    image.save(tmp_path / "low.jpg", quality=70)
    image.save(tmp_path / "clean.png")
    for name in ("low.jpg", "clean.png"):
        src, latents = tmp_path / name, tmp_path / f"{name}.safetensors"
        assert run(capsys, monkeypatch, "upscale", src, "--size", 64, "-o", tmp_path / "up.png",
                   "--overwrite")[0] == 0
        assert run(capsys, monkeypatch, "encode", src, "-o", latents)[0] == 0
        code, _, err = run(capsys, monkeypatch, "render", latents, "--res", 64, "-o",
                           tmp_path / "back.png", "--overwrite")
        assert code == 0, err
        assert np.array_equal(np.asarray(Image.open(tmp_path / "up.png")),
                              np.asarray(Image.open(tmp_path / "back.png")))
    # inputs that would get different weights are encoded together by the default
    code, _, err = run(capsys, monkeypatch, "encode", tmp_path / "low.jpg", tmp_path / "clean.png",
                       "-o", tmp_path / "both.safetensors")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "render", tmp_path / "both.safetensors", "--res", 64,
                       "--weights", "jpeg", "-o", tmp_path / "out/")
    assert code == 1 and "other weights" in err


@pytest.mark.parametrize("command", ["upscale", "encode"])
def test_help_states_the_rule(capsys, monkeypatch, command):
    code, out, _ = run(capsys, monkeypatch, command, "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    rule = JPEG_WEIGHTS_BELOW
    assert (f"below quality {rule['4:2:0']} (read from the file; {rule['4:2:2']} for 4:2:2 colour, "
            f"{rule['4:4:4']} for 4:4:4 or grey)") in text
    assert rule["grey"] == rule["4:4:4"] and rule["other"] == rule["4:2:0"]


def test_eval_without_weights_scores_what_upscale_would_use(tmp_path, capsys, monkeypatch):
    _noise(size=128, seed=5).save(tmp_path / "p.png")
    labels = {}
    for jpeg in (None, 70, 100):
        extra = [] if jpeg is None else ["--jpeg", jpeg]
        code, out, err = run(capsys, monkeypatch, "eval", "--data", tmp_path, "--split", "all",
                             "--scales", 2, "--no-latent-gain", *extra)
        assert code == 0, err
        labels[jpeg] = {line.split("|")[1].strip() for line in out.splitlines() if "hinr (" in line}
    assert labels == {None: {"hinr (shipped)"}, 70: {"hinr (jpeg)"}, 100: {"hinr (shipped)"}}  # 4:2:0
    code, out, err = run(capsys, monkeypatch, "eval", "--data", tmp_path, "--split", "all", "--scales",
                         2, "--no-latent-gain", "--jpeg", 90, "--jpeg-chroma", "4:4:4")
    assert code == 0, err
    assert "hinr (shipped)" in out and "JPEG quality 90 (4:4:4)" in out
    code, _, err = run(capsys, monkeypatch, "eval", "--data", tmp_path, "--jpeg-chroma", "4:4:4")
    assert code == 2 and "needs --jpeg" in err
