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

from .threads import choose_wait_policy

__version__ = "0.1.0"

# OpenMP reads its wait policy once, when torch loads: it is chosen here (hinr.threads: passive
# beside other running work, OpenMP's own when the computer is quiet), before any hinr module imports
# torch; a value in the user's own environment wins.
choose_wait_policy()

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
