"""Pure SCENT: the cascaded Perceiver encoder (pixel tokens with Gaussian Fourier features,
cross-attended into the latents block after block) → SCENT's processor → SCENT's decoder. Its own
fields (``ScentOptions``, the encoder's), its factories and its registry row.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import SHARED_SIZES, Architecture, ModelConfig, register_architecture
from .parts import Parts, attention_or_local, scent_decoder
from .perceiver_encoder import PerceiverEncoder


@dataclass
class ScentOptions:
    """The cascaded Perceiver encoder's fields (``ModelConfig.options``)."""

    perceiver_blocks: int = 3  # cascaded blocks, each adds a projection of the previous latents
    pixel_fourier_features: int = 96  # per-pixel Gaussian Fourier frequencies (192 dims)
    pixel_fourier_scale: float = 15.0


def perceiver_encoder(c: ModelConfig) -> nn.Module:
    o = c.arch_options
    return PerceiverEncoder(
        image_size=c.image_size, dim=c.dim, num_latents=c.num_latents, blocks=o.perceiver_blocks,
        fourier_features=o.pixel_fourier_features, fourier_scale=o.pixel_fourier_scale,
        heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult)


def _parts(c: ModelConfig) -> Parts:
    return Parts(perceiver_encoder, True, scent_decoder)


_OWN = {"small": dict(perceiver_blocks=2, pixel_fourier_features=48),
        "tiny": dict(perceiver_blocks=1, pixel_fourier_features=32)}
register_architecture(Architecture(
    "scent", "SCENT: cascaded Perceiver encoder → processor → SCENT decoder", _parts,
    sizes={name: {**size, "options": _OWN.get(name, {})} for name, size in SHARED_SIZES.items()},
    describe=lambda c: (f"Perceiver ×{c.arch_options.perceiver_blocks}",
                        attention_or_local(c, f"SCENT {c.decoder_dim}, {c.decoder_depth} FF")),
    options=ScentOptions))
