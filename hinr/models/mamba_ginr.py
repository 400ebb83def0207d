"""Pure MAMBA-GINR: the BiMamba encoder (LP tokens interleaved among the patch tokens, as the
paper places them) → LAINR's multi-band decoder, no processor. Its own fields
(``MambaGinrOptions``, the decoder's), its factories and its registry row.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import SHARED_SIZES, Architecture, ModelConfig, register_architecture
from .lainr_decoder import LainrDecoder
from .parts import Parts, attention_or_local, mamba_encoder, needs_wide_tokens, query_extras


@dataclass
class MambaGinrOptions:
    """The LAINR-style multi-band decoder's fields (``ModelConfig.options``)."""

    lainr_hidden: int = 256
    lainr_heads: int = 2
    lainr_dim_head: int = 64
    lainr_bands: tuple[float, ...] = (128.0, 32.0)  # highest frequency of each band, coarse last
    lainr_query_max_freq: float = 16.0
    lainr_freqs_per_band: int = 16

    def __post_init__(self) -> None:
        self.lainr_bands = tuple(float(b) for b in self.lainr_bands)


def lainr_decoder(c: ModelConfig) -> nn.Module:
    o = c.arch_options
    return LainrDecoder(
        context_dim=c.dim, extras=query_extras(c), hidden=o.lainr_hidden, heads=o.lainr_heads,
        dim_head=o.lainr_dim_head, bands=o.lainr_bands, query_max_freq=o.lainr_query_max_freq,
        freqs_per_band=o.lainr_freqs_per_band,
        locality_grid=c.latent_grid if c.locality else None)


def _parts(c: ModelConfig) -> Parts:
    return Parts(mamba_encoder, False, lainr_decoder)


def _bytes_per_query(c: ModelConfig) -> int:
    """The multi-band decoder's working set per query (float32): attention scores over every
    latent, its hidden width, the query's Fourier features and pixel taps."""
    o = c.arch_options
    return 4 * (2 * o.lainr_heads * c.num_latents + 6 * o.lainr_hidden
                + 2 * c.fourier_features + 6 * c.local_pixels ** 2)


_OWN = {"small": dict(lainr_hidden=128, lainr_dim_head=32), "tiny": dict(lainr_hidden=64, lainr_dim_head=16)}
register_architecture(Architecture(
    "mamba-ginr", "MAMBA-GINR: BiMamba encoder → LAINR multi-band decoder", _parts,
    sizes={name: {**size, "options": _OWN.get(name, {})} for name, size in SHARED_SIZES.items()},
    defaults=dict(lp_placement="interleave"),  # MAMBA-GINR interleaves its LP tokens
    validate=needs_wide_tokens, independent_queries=True,
    bytes_per_query=lambda c: None if c.readout == "local" else _bytes_per_query(c),
    describe=lambda c: (f"BiMamba ×{c.encoder_depth}", attention_or_local(c, "LAINR multi-band")),
    options=MambaGinrOptions))
