"""Shared pytest fixtures and helpers, and the switch for tests marked ``slow``.

Slow tests (``@pytest.mark.slow``) run in CI (``CI=true``), with ``HINR_SLOW=1``, or when asked
for by ``-m slow``; the plain ``python -m pytest`` skips them so it stays quick on a laptop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest
import torch

from cifar_fixture import make_fake_cifar
from hinr import HINR, preset, save_model


def run_slow_tests() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("HINR_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("markexpr", default="") or ""
    if run_slow_tests() or ("slow" in wanted and "not slow" not in wanted):  # or `-m slow`
        return
    skip = pytest.mark.skip(reason="slow: runs in CI (CI=true), with HINR_SLOW=1, or with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fake_cifar(tmp_path):
    """A tiny offline CIFAR-10 archive in the official format: (archive path, md5), 4 images a batch."""
    return make_fake_cifar(tmp_path, n_per_batch=4)


def make_latent_model(seed: int = 0) -> HINR:
    """A tiny hybrid whose pixels come from its latents: no residual bicubic base to hide behind,
    so a bug that loses, reorders or mixes up latent tokens changes the output visibly.

    Untrained, the latents would barely depend on the image (the LP tokens' own parameters
    dominate them) and the pixels barely on the latents (the query's Fourier features dominate),
    so a few weights are rescaled: other latents move pixels by ~0.05 on average, not ~0.001.
    """
    torch.manual_seed(seed)
    model = HINR(preset("tiny", lp_placement="interleave", locality=True, cell_input=True)).eval()
    with torch.no_grad():
        model.encoder.lp_tokens.mul_(0.1)  # LP tokens then carry what the BiMamba reads...
        for block in model.encoder.blocks:
            block.mixer.fwd.out_proj.weight.mul_(10.0)  # ...from the patches around them
            block.mixer.bwd.out_proj.weight.mul_(10.0)
        model.decoder.cross_attn.to_out.weight.mul_(5.0)  # the latents outweigh the query
        model.decoder.to_rgb.weight.mul_(0.5)  # fewer pixels clamped at 0 or 1
    return model


@pytest.fixture(scope="session")
def latent_model() -> HINR:
    """`make_latent_model()`, shared: do not modify it in a test."""
    return make_latent_model()


@pytest.fixture(scope="session")
def latent_weights(tmp_path_factory, latent_model) -> Path:
    """A run folder holding `latent_model` as model.safetensors."""
    run = tmp_path_factory.mktemp("runs") / "latent_run"
    save_model(latent_model, run)
    return run


# every decoder option, as the shipped model has them (local_pixels smaller)
OPTIONS = dict(residual=True, locality=True, cell_input=True, local_pixels=4)


def make_options_model(arch: str = "hybrid", *, gate: float = 0.0, seed: int = 0) -> HINR:
    """A tiny model with every decoder option. Gate 0 (as initialised): it renders PIL's bicubic
    exactly; gate 1: its random correction is added in full."""
    torch.manual_seed(seed)
    model = HINR(preset("tiny", arch=arch, **OPTIONS)).eval()
    with torch.no_grad():
        model.residual_gate.fill_(gate)
    return model


@pytest.fixture(scope="session")
def bicubic_model() -> HINR:
    """`make_options_model()` with the gate closed: renders PIL's bicubic. Do not modify it."""
    return make_options_model()


@pytest.fixture(scope="session")
def options_model() -> HINR:
    """`make_options_model(gate=1)`: the decoder's random correction counts. Do not modify it."""
    return make_options_model(gate=1.0)


@pytest.fixture
def run_cli(monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """Run ``hinr ARGS`` through main() in this process: returns (exit code, stdout, stderr)."""
    from cli_helpers import run

    def run_here(*args, debug: bool = False) -> tuple[int, str, str]:
        return run(capsys, monkeypatch, *args, debug=debug)

    return run_here
