"""benchmarks/probe_latents.py on tiny random-weight models: a convolutional encoder's latents are
local, a Perceiver's are not, and a model that renders bicubic departs from it by nothing (no
photos)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import probe_latents as probe  # noqa: E402
from hinr.config import preset  # noqa: E402
from hinr.models.hinr import HINR  # noqa: E402


def _images() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(4, 3, 32, 32)


def test_a_convolutional_encoder_s_latents_are_local_and_a_perceiver_s_are_not():
    torch.manual_seed(0)
    liif = probe.probe(HINR(preset("tiny", arch="liif", base_skip=True)).eval(), _images())
    scent = probe.probe(HINR(preset("tiny", arch="scent", readout="local", base_skip=True)).eval(), _images())
    assert liif["far_over_near"] is not None and liif["far_over_near"] < 0.01
    assert scent["far_over_near"] is not None and scent["far_over_near"] > 0.2
    for figures in (liif, scent):
        assert figures["image_share"] > 0 and figures["residual_rms"] > 0


def test_an_untrained_residual_model_renders_bicubic_and_the_probe_says_so():
    torch.manual_seed(0)
    figures = probe.probe(HINR(preset("tiny", residual=True)).eval(), _images())
    assert figures["residual_rms"] < 1e-3
