"""`hinr eval` end to end on tiny synthetic photos: samples, the bicubic identity of an untrained
residual model, the written results, and bad input through the CLI."""

import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hinr
from hinr.evaluation import evaluate
from hinr.data.folder import select_images
from hinr.evaluation.metrics import ssim
from hinr.precision import autocast, resolve_precision


def photo_folder(root: Path) -> Path:
    """Four 200×150 photos with texture; p0–p2 are the val split, p3 train."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:200]
    rows = ["file\tsplit"]
    for i in range(4):
        base = np.stack([np.sin(xx / (4 + i)) * 100 + 120, np.cos(yy / 6) * 90 + 120, (xx + 2 * yy) % 256], -1)
        base = base + rng.integers(0, 40, (150, 200, 3))
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(root / f"p{i}.png")
        rows.append(f"p{i}.png\t{'val' if i < 3 else 'train'}")
    (root / "MANIFEST.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """An untrained residual model: it renders exactly PIL's bicubic."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("runs") / "tiny_run"
    hinr.save_model(hinr.HINR(hinr.preset("tiny", residual=True)), run)
    return run


def own_renders_scores(model: hinr.HINR, samples, scale: int,
                       precision: str = "fp32") -> tuple[list[float], list[float]]:
    """Each sample encoded and rendered alone at ``precision``, rounded to 8 bits: its (PSNR, SSIM)
    lists (PSNR on RGB with peak 1; SSIM from hinr.evaluation.metrics, tested on its own)."""
    psnrs, ssims = [], []
    for sample in samples:
        low = torch.from_numpy(np.asarray(sample.low).copy()).permute(2, 0, 1)[None] / 255
        target = torch.from_numpy(np.asarray(sample.targets[scale]).copy()).permute(2, 0, 1) / 255
        with torch.no_grad(), autocast(resolve_precision(precision, "cpu"), "cpu"):
            out = model.render(model.encode(low.float()), *target.shape[1:])[0].float()
        out = (out.clamp(0, 1) * 255).round() / 255
        psnrs.append(-10 * math.log10((out - target).double().square().mean()))
        ssims.append(float(ssim(out, target)))
    return psnrs, ssims


def test_parse_scales():
    assert evaluate.parse_scales("4, 1,2,4") == [1, 2, 4]
    for bad in ("0", "2.5", "x", "1,,2"):
        with pytest.raises(ValueError, match="positive integers"):
            evaluate.parse_scales(bad)


def test_photo_samples_and_crops(photos):
    paths = select_images(photos, split="val")
    samples = evaluate.photo_samples(paths, [1, 2], root=photos)
    assert [s.name for s in samples] == ["p0.png", "p1.png", "p2.png"]
    assert samples[0].low.size == (32, 32) and samples[0].targets[2].size == (64, 64)
    assert samples[0].targets[1].tobytes() == samples[0].low.tobytes()  # scale 1: the input itself

    cropped = evaluate.photo_samples(paths[:1], [1, 2], root=photos, crops=3)
    assert [s.name for s in cropped] == ["p0.png", "p0.png#1", "p0.png#2"]
    assert [s.crop for s in cropped] == [0, 1, 2]
    again = evaluate.photo_samples(paths[:1], [1, 2], root=photos, crops=3)
    assert all(a.targets[2].tobytes() == b.targets[2].tobytes() for a, b in zip(cropped, again))
    # at scale 4 crops must be 128 px: a 150 px short side holds only its centre square
    assert len(evaluate.photo_samples(paths[:1], [4], root=photos, crops=3)) == 1


def test_untrained_residual_model_scores_exactly_bicubic(photos, tiny_weights):
    samples = evaluate.photo_samples(select_images(photos, split="val"), [1, 2, 4], root=photos)
    models = evaluate.load_models([str(tiny_weights)])
    result = evaluate.evaluate(samples, models, [1, 2, 4], batch_size=2)
    by_name = {m.name: m for m in result.methods}
    assert list(by_name) == ["nearest", "bilinear", "bicubic", "lanczos", "tiny_run"]
    model, bicubic = by_name["tiny_run"], by_name["bicubic"]
    for k in (2, 4):
        assert model.mean_psnr(k) == pytest.approx(bicubic.mean_psnr(k), abs=0.05)
        assert model.mean_ssim(k) == pytest.approx(bicubic.mean_ssim(k), abs=1e-3)
        assert by_name["nearest"].mean_psnr(k) < bicubic.mean_psnr(k)
    assert bicubic.mean_psnr(1) == math.inf and model.mean_ssim(1) == pytest.approx(1.0)
    assert model.encode_images == 3 and model.render_pixels == 3 * (32 ** 2 + 64 ** 2 + 128 ** 2)
    assert model.encode_images_per_s > 0 and model.render_mpix_per_s > 0
    assert model.params == models[0].model.num_parameters
    assert [row.name for row in result.grid] == ["p0.png", "p1.png", "p2.png"]
    assert evaluate.grid_indices(samples, 2) == [0, 1]
    assert set(result.grid[0].cells) == {"input", "nearest", "bilinear", "bicubic", "lanczos",
                                         "tiny_run", "ground truth"}


def test_each_image_is_scored_from_its_own_latents(photos, latent_weights):
    """Batched evaluation of a model whose pixels come from its latents: per image, the scores are
    those of that image encoded and rendered alone (a batch mix-up would change them)."""
    samples = evaluate.photo_samples(select_images(photos, split="val"), [1, 2], root=photos)
    models = evaluate.load_models([str(latent_weights)])
    result = evaluate.evaluate(samples, models, [1, 2], batch_size=2)
    for k in (1, 2):
        psnrs, ssims = own_renders_scores(models[0].model, samples, k)
        assert result.methods[-1].psnr[k] == pytest.approx(psnrs, abs=1e-4)
        assert result.methods[-1].ssim[k] == pytest.approx(ssims, abs=1e-5)


def test_self_ensemble_of_a_symmetric_model_scores_the_same(photos, tiny_weights):
    """An untrained residual model is bicubic, which commutes with flips and turns: an ensemble of
    4 must score what one pass scores, and count four passes of work."""
    samples = evaluate.photo_samples(select_images(photos, split="val"), [2], root=photos)
    models = evaluate.load_models([str(tiny_weights)])
    one = evaluate.evaluate(samples, models, [2], batch_size=2)
    four = evaluate.evaluate(samples, models, [2], batch_size=2, ensemble=4)
    assert four.ensemble == 4 and four.methods[-1].encode_images == 4 * len(samples)
    assert four.methods[-1].mean_psnr(2) == pytest.approx(one.methods[-1].mean_psnr(2), abs=0.02)


def test_cli_writes_table_json_markdown_and_grid(photos, tiny_weights, latent_weights, tmp_path,
                                                 run_cli):
    out = tmp_path / "eval"
    code, stdout, _ = run_cli("eval", "--data", photos, "--weights", tiny_weights,
                              "--weights", tiny_weights / "model.safetensors",
                              "--weights", latent_weights, "--scales", "2,1", "--out", out)
    assert code == 0
    assert "| tiny_run |" in stdout and "| tiny_run-2 |" in stdout and "| bicubic |" in stdout
    assert "| latent_run |" in stdout
    assert "×2 PSNR" in stdout and "render Mpix/s" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "results.json", "results.md"]
    assert (out / "results.md").read_text() == stdout
    doc = json.loads((out / "results.json").read_text())
    assert doc["scales"] == [1, 2] and doc["split"] == "val" and len(doc["images"]) == 3
    methods = {m["name"]: m for m in doc["methods"]}
    assert methods["bicubic"]["scales"]["1"]["psnr"] is None  # exact: infinite PSNR
    assert methods["tiny_run"]["params"] > 0 and methods["tiny_run"]["config"]["residual"] is True
    assert len(methods["tiny_run"]["weights_metadata"]["fingerprint"]) == 16
    assert abs(methods["tiny_run"]["scales"]["2"]["psnr"] - methods["bicubic"]["scales"]["2"]["psnr"]) < 0.05
    # the model whose pixels come from its latents scores what its own renders score
    samples = evaluate.photo_samples(select_images(photos, split="val"), [1, 2], root=photos)
    # (bf16 decoding in a batch of 3 vs alone: ~0.002 dB apart; one image's latents for another's
    # move these scores by 0.01–0.07 dB)
    psnrs, _ = own_renders_scores(hinr.load_model(latent_weights), samples, 2, doc["precision"])
    assert methods["latent_run"]["scales"]["2"]["psnr_per_image"] == pytest.approx(psnrs, abs=5e-3)
    with Image.open(out / "grid.png") as grid:  # 3 rows × (input, bicubic, 3 models, truth), 128 px
        assert grid.size == (4 + 6 * 132, 22 + 3 * 132)


def test_cli_cifar10_reconstruction(fake_cifar, tmp_path, latent_weights, run_cli):
    archive, _ = fake_cifar
    with tarfile.open(archive) as tar:  # extracted: a folder is trusted, the fake archive's md5 is not
        tar.extractall(tmp_path / "cifar", filter="data")
    code, stdout, err = run_cli("eval", "--data", "cifar10", "--data-dir",
                                tmp_path / "cifar", "--weights", latent_weights, "--limit", "3")
    assert code == 0, err
    assert "3 images of cifar10" in stdout and "×1 SSIM" in stdout and "×2" not in stdout
    assert "| latent_run |" in stdout


@pytest.mark.parametrize("args, code, message", [
    (["--data", "cifar10", "--scales", "1,4"], 2, "only --scales 1"),
    (["--scales", "2,x"], 2, "--scales"),
    (["--crops", "0"], 2, "--crops must be at least 1"),
    (["--device", "tpu"], 2, "--device"),
    (["--weights", "/nonexistent/run"], 1, "/nonexistent/run"),
])
def test_bad_input_is_one_line_with_the_right_exit_code(photos, tiny_weights, run_cli, args, code,
                                                        message):
    base = {"--data": str(photos), "--weights": str(tiny_weights)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    got, stdout, err = run_cli("eval", *[x for kv in base.items() for x in kv])
    assert got == code
    assert stdout == ""
    assert err.count("\n") == 1 and err.startswith("hinr: error:") and message in err


def test_missing_folder_is_a_runtime_error(tiny_weights, tmp_path, run_cli):
    code, _, err = run_cli("eval", "--data", tmp_path / "nope", "--weights", tiny_weights)
    assert code == 1 and err.count("\n") == 1 and "is not a folder" in err
