"""hinr: arbitrary-resolution image upsampling with a hybrid implicit neural representation.

A 32×32 RGB image is encoded once into latent tokens (BiMamba encoder, MAMBA-GINR), refined by a
self-attention processor (SCENT) and decoded at any continuous (x, y) coordinate (SCENT decoder).

    >>> import hinr, torch
    >>> model = hinr.HINR(hinr.preset("tiny"))
    >>> latents = model.encode(torch.rand(1, 3, 32, 32))
    >>> model.render(latents, 128, 128).shape
    torch.Size([1, 3, 128, 128])

The public names are imported lazily, so ``import hinr`` (and ``hinr --help``) does not load torch.
"""

from __future__ import annotations

import importlib
import os

__version__ = "0.1.0"

# OpenMP's threads spin at every barrier by default; on a computer with other work running (a
# browser, another job) the spinning thread's partner is descheduled and the spinning goes on for
# its whole time slice: a 1080p upscale beside a 2-thread torch job took 3-7x its quiet time, and
# 21x under a mix of jobs. Passive waiting costs little when the machine is quiet
# (benchmarks/bench_under_load.py). OpenMP reads it once, when torch loads: it is set here, before
# any hinr module imports torch, and a value in the user's own environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "ARCHITECTURES": "hinr.config", "PRESETS": "hinr.config", "ModelConfig": "hinr.config",
    "preset": "hinr.config", "HINR": "hinr.models.hinr", "Latents": "hinr.models.latents",
    "CheckpointError": "hinr.errors", "load_model": "hinr.store.checkpoint",
    "save_model": "hinr.store.checkpoint", "upscale_image": "hinr.inference.upscale",
    "render_latents": "hinr.models.render", "HinrError": "hinr.errors",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hinr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
