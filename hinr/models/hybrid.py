"""The hybrid as the design card writes it: MAMBA-GINR's BiMamba encoder (2×2 patch tokens and
learnable position tokens; the LP tokens' outputs are the latents) → SCENT's processor over the
latents → SCENT's decoder (global cross-attention from the query's Fourier features). Its registry
row; the modules are ``mamba_encoder``, ``processor`` and ``scent_decoder``. It has no fields of
its own.
"""

from __future__ import annotations

from ..config import Architecture, ModelConfig, register_architecture
from .parts import Parts, attention_or_local, mamba_encoder, needs_wide_tokens, scent_decoder


def _parts(c: ModelConfig) -> Parts:
    return Parts(mamba_encoder, True, scent_decoder)


register_architecture(Architecture(
    "hybrid", "MAMBA-GINR's BiMamba encoder → SCENT processor → SCENT decoder (the design)",
    _parts, validate=needs_wide_tokens,
    describe=lambda c: (f"BiMamba ×{c.encoder_depth}",
                        attention_or_local(c, f"SCENT {c.decoder_dim}, {c.decoder_depth} FF"))))
