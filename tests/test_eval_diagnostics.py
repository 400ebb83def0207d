"""What `hinr eval` reports beside PSNR/SSIM: the latent gain (own latents against another
image's), the grid score of every method and of the ground truth, and JPEG inputs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hinr.evaluation import evaluate, report as eval_report
from hinr.config import preset
from hinr.evaluation.evaluate import EvalModel, EvalSample
from hinr.models.hinr import HINR


def samples(n: int = 3, scales=(2, 4)) -> list[EvalSample]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        yy, xx = np.mgrid[0:128, 0:128]
        base = np.stack([np.sin(xx / (3 + i)) * 90 + 120, np.cos(yy / 5) * 80 + 120, (xx + yy) % 256], -1)
        photo = Image.fromarray(np.clip(base + rng.integers(0, 30, base.shape), 0, 255).astype(np.uint8))
        low = photo.resize((32, 32), Image.BICUBIC)
        out.append(EvalSample(f"p{i}", low, {k: photo.resize((32 * k, 32 * k), Image.BICUBIC)
                                             for k in scales}))
    return out


def model(**overrides) -> EvalModel:
    torch.manual_seed(0)
    return EvalModel("m", HINR(preset("tiny", **overrides)).eval(), "none")


def test_latent_gain_is_zero_when_the_output_ignores_the_latents():
    """An untrained residual model is exactly bicubic, whatever its latents."""
    result = evaluate.evaluate(samples(), [model(residual=True)], [2, 4])
    m = result.methods[-1]
    for k in (2, 4):
        assert len(m.swapped_psnr[k]) == 3
        assert m.latent_gain(k) == pytest.approx(0.0, abs=1e-9)


def test_latent_gain_measures_what_the_latents_carry():
    """Randomly initialised, the local read-out's picture comes from the latents: rendering from
    the next image's latents scores differently, and the gain is the mean difference."""
    m = model(readout="local", decoder_depth=2)
    with torch.no_grad():
        for p in m.model.encoder.parameters():
            p.add_(torch.randn_like(p) * 0.5)  # make the tokens differ between images
    result = evaluate.evaluate(samples(), [m], [2])
    r = result.methods[-1]
    assert r.swapped_psnr[2] != r.psnr[2]
    assert r.latent_gain(2) == pytest.approx(np.mean(r.psnr[2]) - np.mean(r.swapped_psnr[2]))
    table = eval_report.markdown_table(result)
    assert "latent gain" in table and f"{r.latent_gain(2):+.2f}" in table
    doc = json.loads(json.dumps(eval_report.result_json(result)))
    assert doc["methods"][-1]["scales"]["2"]["latent_gain"] == pytest.approx(r.latent_gain(2))


def test_grid_scores_for_methods_and_ground_truth():
    result = evaluate.evaluate(samples(), [model(residual=True)], [2, 4], latent_gain=False)
    by_name = {r.name: r for r in result.methods}
    assert by_name["nearest"].grid_score(4) == float("inf")
    assert by_name["bicubic"].grid_score(4) > 1.2
    # the untrained residual model renders PIL's bicubic: the same pattern
    assert by_name["m"].grid_score(4) == pytest.approx(by_name["bicubic"].grid_score(4), rel=0.05)
    assert set(result.truth_grid) == {2, 4}
    doc = eval_report.result_json(result)
    assert doc["ground_truth_grid_score"]["4"] == pytest.approx(result.truth_grid[4])
    assert by_name["m"].latent_gain(2) is None


def test_jpeg_inputs_lower_every_score_and_are_recorded():
    clean = evaluate.evaluate(samples(), [], [2], latent_gain=False)
    dirty = evaluate.evaluate(samples(), [], [2], jpeg=30, latent_gain=False)
    bicubic = lambda r: next(m for m in r.methods if m.name == "bicubic").mean_psnr(2)  # noqa: E731
    assert bicubic(dirty) < bicubic(clean) - 0.1
    assert dirty.jpeg == 30 and "JPEG quality 30" in eval_report.markdown_table(dirty)
    with pytest.raises(ValueError, match="quality"):
        evaluate.evaluate(samples(), [], [2], jpeg=0)
    full = evaluate.evaluate(samples(), [], [2], jpeg=30, jpeg_chroma="4:4:4", latent_gain=False)
    assert bicubic(full) > bicubic(dirty)  # full-resolution colour loses less
    assert "JPEG quality 30 (4:4:4)" in eval_report.markdown_table(full)
    assert eval_report.result_json(full)["jpeg_chroma"] == "4:4:4"
    assert eval_report.result_json(clean)["jpeg_chroma"] is None
    with pytest.raises(ValueError, match="4:2:0"):
        evaluate.evaluate(samples(), [], [2], jpeg=30, jpeg_chroma="4:1:1")
    with pytest.raises(ValueError, match="needs --jpeg"):
        evaluate.check_request("photos", [2], jpeg_chroma="4:4:4")
