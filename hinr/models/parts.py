"""Which parts make each built-in architecture (its registry row in ``hinr.config`` names the
function here): a factory for the encoder, whether the SCENT processor runs over the latents,
and the decoder that reads them out. ``readout="local"`` replaces any decoder with LIIF's local
read-out. Every factory takes the whole ``ModelConfig`` (only the top-level model and this table
see the config; the leaf modules take keyword arguments).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..config import ModelConfig
from .edsr_encoder import EdsrEncoder
from .hybrid_v2 import HybridV2Decoder, HybridV2Encoder
from .lainr_decoder import LainrDecoder
from .local_decoder import LocalDecoder
from .mamba_encoder import MambaEncoder
from .perceiver_encoder import PerceiverEncoder
from .query_extras import QueryExtras
from .scent_decoder import ScentDecoder


def mamba_encoder(c: ModelConfig) -> nn.Module:
    return MambaEncoder(
        image_size=c.image_size, patch_size=c.patch_size, dim=c.dim, num_latents=c.num_latents,
        depth=c.encoder_depth, mlp_ratio=c.encoder_mlp_ratio, placement=c.lp_placement,
        merge=c.bimamba_merge, d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
        interleave=c.lp_interleave)


def perceiver_encoder(c: ModelConfig) -> nn.Module:
    return PerceiverEncoder(
        image_size=c.image_size, dim=c.dim, num_latents=c.num_latents, blocks=c.perceiver_blocks,
        fourier_features=c.pixel_fourier_features, fourier_scale=c.pixel_fourier_scale,
        heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult)


def edsr_encoder(c: ModelConfig) -> nn.Module:
    return EdsrEncoder(dim=c.dim, depth=c.encoder_depth)


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


def lainr_decoder(c: ModelConfig) -> nn.Module:
    return LainrDecoder(
        context_dim=c.dim, extras=query_extras(c), hidden=c.lainr_hidden, heads=c.lainr_heads,
        dim_head=c.lainr_dim_head, bands=c.lainr_bands, query_max_freq=c.lainr_query_max_freq,
        freqs_per_band=c.lainr_freqs_per_band,
        locality_grid=c.latent_grid if c.locality else None)


def local_decoder(c: ModelConfig) -> nn.Module:
    return LocalDecoder(
        context_dim=c.dim, side=c.latent_grid, image_size=c.image_size, hidden=c.decoder_dim,
        depth=c.decoder_depth, unfold=c.unfold, cell_input=c.cell_input,
        pixel_view=c.local_pixels, base_input=c.residual)


def hybrid_v2_encoder(c: ModelConfig) -> nn.Module:
    return HybridV2Encoder(
        image_size=c.image_size, dim=c.dim, stem_depth=c.stem_depth, num_latents=c.num_latents,
        depth=c.encoder_depth, mlp_ratio=c.encoder_mlp_ratio, merge=c.bimamba_merge,
        d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, scan_order=c.scan_order,
        processor_depth=c.processor_depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult)


def hybrid_v2_decoder(c: ModelConfig) -> nn.Module:
    return HybridV2Decoder(
        dim=c.dim, image_size=c.image_size, hidden=c.decoder_dim, depth=c.decoder_depth,
        cell_input=c.cell_input, global_dim=c.dim, heads=c.decoder_heads,
        dim_head=c.decoder_dim_head, ff_mult=c.decoder_ff_mult,
        fourier_features=c.fourier_features, fourier_scale=c.fourier_scale,
        global_start=c.global_start)


@dataclass(frozen=True)
class Parts:
    encoder: Callable[[ModelConfig], nn.Module]
    processor: bool  # the SCENT processor runs over the latents
    # config → decoder: prepare(latents) → context, forward(coords, cell, context, base) → RGB
    decoder: Callable[[ModelConfig], nn.Module]
    reads_locally: bool = False  # the decoder is a local read-out already (readout="local" keeps it)


def hybrid_parts(c: ModelConfig) -> Parts:
    return Parts(mamba_encoder, True, scent_decoder)


def hybrid_v2_parts(c: ModelConfig) -> Parts:
    # the processor of hybrid-v2 runs inside its encoder, over the LP latents only
    return Parts(hybrid_v2_encoder, False, hybrid_v2_decoder, reads_locally=True)


def mamba_ginr_parts(c: ModelConfig) -> Parts:
    return Parts(mamba_encoder, False, lainr_decoder)


def scent_parts(c: ModelConfig) -> Parts:
    return Parts(perceiver_encoder, True, scent_decoder)


def liif_parts(c: ModelConfig) -> Parts:
    return Parts(edsr_encoder, False, local_decoder, reads_locally=True)


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
