"""`hinr eval --benchmark`: the papers' protocol (luma, shave, SSIM) against hand-computed values,
the folder layout and its bad inputs, the command end to end, and the published bicubic figures
on the real Set5 where ../shared/benchmarks exists."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import REPO, files, run
from hinr.evaluation import standard_sets
from hinr.evaluation.protocol import shave, y_channel, y_psnr, y_ssim

SHARED_BENCHMARKS = REPO.parent / "shared" / "benchmarks"


# --- the protocol --------------------------------------------------------------------------------

def test_luma_is_bt601_studio_range():
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0],
                        [0.0, 0.0, 0.0]]).T.reshape(3, 1, 5)
    y = y_channel(rgb).flatten().tolist()
    assert y == pytest.approx([16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0, 16.0], abs=1e-9)


def test_shave_removes_border_pixels():
    image = torch.arange(100.0).reshape(1, 1, 10, 10)
    kept = shave(image, 2)
    assert kept.shape == (1, 1, 6, 6)
    assert kept[0, 0, 0, 0] == 22.0 and kept[0, 0, -1, -1] == 77.0
    with pytest.raises(ValueError, match="nothing left"):
        shave(image, 5)


def test_psnr_ignores_the_shaved_border_and_matches_hand_value():
    target = torch.zeros(3, 8, 8)
    pred = target.clone()
    pred[:, 0, 0] = 1.0  # in the 2-px border: shaved away
    assert math.isinf(float(y_psnr(pred, target, border=2)[0]))
    pred[:, 3, 4] = 1.0 / 219.0  # inside: luma +1.0 on one of 16 kept pixels
    mse = 1.0 / 16
    assert float(y_psnr(pred, target, border=2)[0]) == pytest.approx(10 * math.log10(255**2 / mse))


def test_ssim_of_flat_grey_images_matches_closed_form():
    # flat images: no variance, so SSIM is the luminance term (2ab + C1) / (a² + b² + C1)
    a, b = 0.25, 0.75
    pred, target = torch.full((3, 15, 15), a), torch.full((3, 15, 15), b)
    ya, yb = 16 + 219 * a, 16 + 219 * b
    c1 = (0.01 * 255) ** 2
    expected = (2 * ya * yb + c1) / (ya**2 + yb**2 + c1)
    assert float(y_ssim(pred, target, border=2)[0]) == pytest.approx(expected, rel=1e-9)
    assert float(y_ssim(target, target, border=2)[0]) == pytest.approx(1.0)


def test_ssim_falls_as_noise_grows():
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((3, 24, 24)))
    noise = torch.from_numpy(rng.standard_normal((3, 24, 24)))
    scores = [float(y_ssim((target + s * noise).clamp(0, 1), target, border=2)[0])
              for s in (0.0, 0.05, 0.2)]
    assert scores[0] == pytest.approx(1.0) and scores[0] > scores[1] > scores[2]


# --- the folder layout ----------------------------------------------------------------------------

def _pair(folder: Path, name: str, scale: int, size: int = 24, grey: bool = False,
          lr_size: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name) + scale)
    hr = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    if grey:
        hr = hr.convert("L")
    hr.save(folder / f"{name}_SRF_{scale}_HR.png")
    side = lr_size or size // scale
    hr.resize((side, side), Image.BICUBIC).save(folder / f"{name}_SRF_{scale}_LR.png")


def test_pairs_shipped_and_made(tmp_path):
    _pair(tmp_path / "SetA" / "x2", "img_001", 2)
    _pair(tmp_path / "SetA" / "x2", "img_002", 2, grey=True)
    _pair(tmp_path / "SetA" / "x4", "img_001", 4)
    pairs = standard_sets.find_pairs(tmp_path, [2, 8])
    shipped = [p for p in pairs if p.scale == 2]
    assert [(p.name, p.lr is not None) for p in shipped] == [("img_001", True), ("img_002", True)]
    made = [p for p in pairs if p.scale == 8]  # from the x4 HR, which was cropped least
    assert [p.name for p in made] == ["img_001"] and made[0].lr is None
    assert made[0].hr.parent.name == "x4"
    image = standard_sets.load_pair(made[0])
    assert image.hr.shape == (3, 24, 24) and image.lr.shape == (3, 3, 3)


def test_hr_only_set_folder(tmp_path):
    Image.new("RGB", (20, 18), (10, 200, 30)).save(tmp_path / "a.png")
    pairs = standard_sets.find_pairs(tmp_path, [3])  # DIR is itself a set of HR images
    assert len(pairs) == 1 and pairs[0].lr is None and pairs[0].set == tmp_path.name
    image = standard_sets.load_pair(pairs[0])
    assert image.hr.shape == (3, 18, 18) and image.lr.shape == (3, 6, 6)


def test_no_pairs_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(standard_sets.BenchmarkError, match="no test images"):
        standard_sets.find_pairs(tmp_path, [2])


def test_sizes_not_k_apart_refused(tmp_path):
    _pair(tmp_path / "S" / "x2", "bad", 2, size=24, lr_size=11)
    pairs = standard_sets.find_pairs(tmp_path, [2])
    with pytest.raises(standard_sets.BenchmarkError, match="not 2× apart"):
        standard_sets.check_sizes(pairs)


def test_scale_without_hr_refused(tmp_path):
    folder = tmp_path / "S" / "x2"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "img_SRF_2_LR.png")  # an LR with no HR anywhere
    with pytest.raises(standard_sets.BenchmarkError, match="no HR images"):
        standard_sets.find_pairs(tmp_path, [3])


def test_grey_images_are_scored_like_colour(tmp_path):
    _pair(tmp_path / "S" / "x2", "grey", 2, grey=True)
    result = standard_sets.run_benchmark(standard_sets.find_pairs(tmp_path, [2]), {})
    scores = result.scores[("S", 2, "bicubic")]
    assert scores.names == ["grey"] and 10 < scores.psnr[0] < 60


# --- the command ------------------------------------------------------------------------------

def test_cli_benchmark_end_to_end(tmp_path, capsys, monkeypatch):
    _pair(tmp_path / "sets" / "Set5" / "x2", "img_001", 2, size=64)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, monkeypatch, "eval", "--benchmark", tmp_path / "sets",
                            "--scales", "2,4", "--out", out)
    assert code == 0, err
    assert "| **hinr (shipped)** |" in stdout and "Set5 ×2" in stdout and "Set5 ×4*" in stdout
    assert "published EDSR-baseline" in stdout  # beside the shipped ×2 column
    data = json.loads((out / "results.json").read_text())
    rows = {(r["set"], r["scale"], r["method"]): r for r in data["results"]}
    model, cubic = rows[("Set5", 2, "hinr (shipped)")], rows[("Set5", 2, "bicubic")]
    assert model["images"]["img_001"]["psnr"] == pytest.approx(model["psnr"])
    assert model["psnr"] != cubic["psnr"]
    assert rows[("Set5", 4, "bicubic")]["lr_made_by_pil_bicubic"] is True
    assert files(out) == {"results.json", "results.md"}


def test_cli_benchmark_names_a_self_ensemble_in_the_table(tmp_path, capsys, monkeypatch):
    _pair(tmp_path / "sets" / "Set5" / "x2", "img_001", 2, size=48)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, monkeypatch, "eval", "--benchmark", tmp_path / "sets",
                            "--scales", "2", "--ensemble", "2", "--out", out)
    assert code == 0, err
    assert "| **hinr (shipped), self-ensemble ×2** |" in stdout
    assert "mean of 2 flipped and turned passes" in stdout
    assert json.loads((out / "results.json").read_text())["ensemble"] == 2


@pytest.mark.parametrize("args, message", [
    (["--scales", "2"], "no test images"),
    (["--scales", "1,2"], "must be 2 or more"),
    (["--scales", "2", "--crops", "4"], "--crops apply to --data"),
])
def test_cli_benchmark_bad_input_exit_2_nothing_written(tmp_path, capsys, monkeypatch, args, message):
    (tmp_path / "sets" / "Empty").mkdir(parents=True)
    out = tmp_path / "out"
    code, _, err = run(capsys, monkeypatch, "eval", "--benchmark", tmp_path / "sets", *args, "--out", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_needs_data_or_benchmark(capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "eval")
    assert code == 2 and "--benchmark" in err


# --- the published protocol on the real sets --------------------------------------------------

@pytest.mark.skipif(not (SHARED_BENCHMARKS / "Set5").is_dir(), reason="needs ../shared/benchmarks")
def test_bicubic_on_set5_matches_published_protocol():
    pairs = standard_sets.find_pairs(SHARED_BENCHMARKS / "Set5", [2, 4])
    assert len(pairs) == 10 and all(p.lr is not None for p in pairs)
    result = standard_sets.run_benchmark(pairs, {})
    assert round(result.scores[("Set5", 2, "bicubic")].mean_psnr, 2) == 33.67
    assert round(result.scores[("Set5", 4, "bicubic")].mean_psnr, 2) == 28.43


def test_lr_only_folder_names_the_missing_ground_truth(tmp_path):
    folder = tmp_path / "S" / "x2"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(folder / "img_SRF_2_LR.png")  # the LR of the asked scale, no HR
    with pytest.raises(standard_sets.BenchmarkError, match="holds only LR images.*NAME_HR"):
        standard_sets.find_pairs(tmp_path, [2])
