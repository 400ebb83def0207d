"""hinr: arbitrary-resolution image upsampling with a hybrid implicit neural representation.

A 32×32 RGB image is encoded once into latent tokens (BiMamba encoder, MAMBA-GINR), refined by a
self-attention processor (SCENT) and decoded at any continuous (x, y) coordinate (SCENT decoder).

    >>> import hinr, torch
    >>> model = hinr.HINR(hinr.preset("tiny"))
    >>> latents = model.encode(torch.rand(1, 3, 32, 32))
    >>> model.render(latents, 128, 128).shape
    torch.Size([1, 3, 128, 128])
"""

__version__ = "0.1.0"

from .config import ARCHITECTURES, PRESETS, ModelConfig, preset  # noqa: E402
from .models.hinr import HINR, Latents  # noqa: E402
from .checkpoint import CheckpointError, load_model, save_model  # noqa: E402

__all__ = ["ARCHITECTURES", "PRESETS", "ModelConfig", "preset", "HINR", "Latents",
           "CheckpointError", "load_model", "save_model", "__version__"]
