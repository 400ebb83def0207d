"""The parts an architecture is made of (``Parts``: a factory for the encoder, whether the SCENT
processor runs over the latents, and the decoder that reads them out), and the factories several
architectures share. Each architecture's module (``hinr/models/<arch>.py``) says which parts make
it; ``readout="local"`` replaces any decoder with LIIF's local read-out. Every factory takes the
whole ``ModelConfig`` (only the top-level model and the factories see the config; the leaf
modules take keyword arguments).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..config import ModelConfig
from .local_decoder import LocalDecoder
from .mamba_encoder import MambaEncoder
from .query_extras import QueryExtras
from .scent_decoder import ScentDecoder


def needs_wide_tokens(c: ModelConfig) -> None:
    """The MAMBA-GINR encoder's check (a registry row's ``validate``)."""
    if c.dim <= 32:
        raise ValueError("dim must exceed 32: the patch tokens carry a fixed 32-d position code")


def mamba_encoder(c: ModelConfig) -> nn.Module:
    return MambaEncoder(
        image_size=c.image_size, patch_size=c.patch_size, dim=c.dim, num_latents=c.num_latents,
        depth=c.encoder_depth, mlp_ratio=c.encoder_mlp_ratio, placement=c.lp_placement,
        merge=c.bimamba_merge, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
        interleave=c.lp_interleave)


def query_extras(c: ModelConfig) -> QueryExtras | None:
    """The attention decoders' per-query options (None when all are off)."""
    extras = QueryExtras(image_size=c.image_size, latent_grid=c.latent_grid, locality=c.locality,
                         cell_input=c.cell_input, local_pixels=c.local_pixels)
    return extras if extras.out_dim else None


def scent_decoder(c: ModelConfig) -> nn.Module:
    return ScentDecoder(
        context_dim=c.dim, extras=query_extras(c), dim=c.decoder_dim, depth=c.decoder_depth,
        heads=c.decoder_heads, dim_head=c.decoder_dim_head, ff_mult=c.decoder_ff_mult,
        self_attn=c.decoder_self_attn, fourier_features=c.fourier_features,
        fourier_scale=c.fourier_scale, locality_grid=c.latent_grid if c.locality else None)


def attention_or_local(c: ModelConfig, name: str) -> str:
    """The decoder's line in ``hinr models``: ``name``, or the local read-out that replaces it."""
    if c.readout == "local":
        return f"local MLP {c.decoder_dim} × {c.decoder_depth}"
    return name


def local_decoder(c: ModelConfig) -> nn.Module:
    return LocalDecoder(
        context_dim=c.dim, side=c.latent_grid, image_size=c.image_size, hidden=c.decoder_dim,
        depth=c.decoder_depth, unfold=c.unfold, cell_input=c.cell_input,
        pixel_view=c.local_pixels, base_input=c.residual)


@dataclass(frozen=True)
class Parts:
    encoder: Callable[[ModelConfig], nn.Module]
    processor: bool  # the SCENT processor runs over the latents
    # config → decoder: prepare(latents) → context, forward(coords, cell, context, base) → RGB
    decoder: Callable[[ModelConfig], nn.Module]
    reads_locally: bool = False  # the decoder is a local read-out already (readout="local" keeps it)


def parts_for(c: ModelConfig) -> Parts:
    """The parts of ``c.arch`` (its registry row's ``parts``), with the decoder swapped for the
    local read-out if asked."""
    make = c.architecture.parts
    if isinstance(make, str):
        module, name = make.split(":")
        make = getattr(importlib.import_module(module), name)
    parts = make(c)
    if c.readout == "local" and not parts.reads_locally:
        return Parts(parts.encoder, parts.processor, local_decoder, reads_locally=True)
    return parts
