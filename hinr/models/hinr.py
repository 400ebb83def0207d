"""The hinr model: encode a 32×32 image once into latent tokens, then decode RGB at any continuous
(x, y) coordinates (LIIF's encode / decode split).

``HINR(config)`` assembles the architecture named by ``config.arch`` from the shared parts:

    hybrid      MambaEncoder     → Processor → ScentDecoder
    mamba-ginr  MambaEncoder                 → LainrDecoder
    scent       PerceiverEncoder → Processor → ScentDecoder

With ``config.residual`` the output is the PIL-exact bicubic interpolation of the input plus the
decoder's correction, scaled by a learnable per-channel gate that starts at zero, so an untrained
model renders exactly PIL's bicubic resize.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from einops import rearrange
from torch import nn

from ..config import ModelConfig
from ..coords import cell_size, pixel_centres
from .bicubic import pil_bicubic
from .lainr_decoder import LainrDecoder
from .mamba_encoder import MambaEncoder
from .perceiver_encoder import PerceiverEncoder
from .processor import Processor
from .query_extras import QueryExtras
from .scent_decoder import ScentDecoder


@dataclass
class Latents:
    """What ``encode`` makes: the latent tokens and the input they came from (the residual and
    local-pixel options decode from it)."""

    tokens: torch.Tensor  # (B, M, D)
    images: torch.Tensor  # (B, 3, S, S) in [0, 1]

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, index) -> "Latents":
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Latents(self.tokens[index], self.images[index])

    def to(self, *args, **kwargs) -> "Latents":
        return Latents(self.tokens.to(*args, **kwargs), self.images.to(*args, **kwargs))


class HINR(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        grid = c.latent_grid if c.locality else None
        if c.arch == "scent":
            self.encoder = PerceiverEncoder(
                image_size=c.image_size, dim=c.dim, num_latents=c.num_latents,
                blocks=c.perceiver_blocks, fourier_features=c.pixel_fourier_features,
                fourier_scale=c.pixel_fourier_scale, heads=c.heads, dim_head=c.dim_head,
                ff_mult=c.ff_mult)
        else:
            self.encoder = MambaEncoder(
                image_size=c.image_size, patch_size=c.patch_size, dim=c.dim,
                num_latents=c.num_latents, depth=c.encoder_depth, mlp_ratio=c.encoder_mlp_ratio,
                placement=c.lp_placement, merge=c.bimamba_merge, d_state=c.d_state,
                d_conv=c.d_conv, expand=c.expand, interleave=c.lp_interleave)
        self.processor = None if c.arch == "mamba-ginr" else Processor(
            dim=c.dim, depth=c.processor_depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult)
        self.extras = QueryExtras(image_size=c.image_size, latent_grid=c.latent_grid,
                                  locality=c.locality, cell_input=c.cell_input,
                                  local_pixels=c.local_pixels)
        if c.arch == "mamba-ginr":
            self.decoder = LainrDecoder(
                context_dim=c.dim, extra_dim=self.extras.out_dim, hidden=c.lainr_hidden,
                heads=c.lainr_heads, dim_head=c.lainr_dim_head, bands=c.lainr_bands,
                query_max_freq=c.lainr_query_max_freq, freqs_per_band=c.lainr_freqs_per_band,
                locality_grid=grid)
        else:
            self.decoder = ScentDecoder(
                context_dim=c.dim, extra_dim=self.extras.out_dim, dim=c.decoder_dim,
                depth=c.decoder_depth, heads=c.decoder_heads, dim_head=c.decoder_dim_head,
                ff_mult=c.decoder_ff_mult, self_attn=c.decoder_self_attn,
                fourier_features=c.fourier_features, fourier_scale=c.fourier_scale,
                locality_grid=grid)
        # the correction starts switched off: an untrained residual model is exactly bicubic
        self.residual_gate = nn.Parameter(torch.zeros(3)) if c.residual else None

    # ----------------------------------------------------------------------------------------
    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, images: torch.Tensor) -> Latents:
        """images (B, 3, S, S) in [0, 1], S = config.image_size → Latents with tokens (B, M, D)."""
        s = self.config.image_size
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (s, s):
            raise ValueError(f"encode takes (B, 3, {s}, {s}) images, got {tuple(images.shape)}")
        tokens = self.encoder(images * 2.0 - 1.0)
        if self.processor is not None:
            tokens = self.processor(tokens)
        return Latents(tokens, images)

    def prepare(self, latents: Latents) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image decoder context (cross-attention keys and values), reusable across chunks."""
        return self.decoder.prepare(latents.tokens)

    def decode(self, latents: Latents, coords: torch.Tensor, cell: torch.Tensor | None = None,
               *, context: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """RGB at continuous coordinates.

        coords (Q, 2) or (B, Q, 2), (x, y) in [0, 1] at pixel centres (see hinr.coords);
        cell (2,), (B, 2) or (B, Q, 2): the output pixel's extent in [0, 1] units (default: one
        input pixel);
        context: from ``prepare`` to skip recomputing it. Returns (B, Q, 3), roughly in [0, 1]
        (not clamped, so training sees the raw values).
        """
        b = len(latents)
        if coords.ndim == 2:
            coords = coords.unsqueeze(0).expand(b, -1, -1)
        coords = coords.to(latents.tokens.device, torch.float32)
        if cell is None:
            cell = cell_size(self.config.image_size, self.config.image_size, device=coords.device)
        cell = cell.to(coords.device, torch.float32)
        cell = cell.expand(b, -1, -1) if cell.ndim == 3 else cell.reshape(-1, 2).expand(b, -1)
        images = latents.images.float()
        # the bicubic base and the pixel taps stay fp32 under autocast: in bf16 the "exact"
        # bicubic would be off by up to 2 grey levels
        with torch.autocast(coords.device.type, enabled=False):
            base = pil_bicubic(images, coords, cell) if (self.residual_gate is not None
                                                         or self.extras.local_pixels) else None
            extras = self.extras(coords, cell, images, base)
        if context is None:
            context = self.prepare(latents)
        out = self.decoder(coords, extras, context).float()
        if self.residual_gate is not None:
            return base + self.residual_gate * out
        return out + 0.5  # the decoder works around mid-grey

    def forward(self, images: torch.Tensor, coords: torch.Tensor,
                cell: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 3, S, S); coords (Q, 2) or (B, Q, 2) → RGB (B, Q, 3)."""
        return self.decode(self.encode(images), coords, cell)

    @torch.no_grad()
    def render(self, latents: Latents, height: int, width: int, *, chunk: int = 16384,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render every pixel of an H×W image, decoding ``chunk`` queries at a time.

        Returns (B, 3, H, W) clamped to [0, 1]. Memory is bounded by ``chunk``, not by H×W.
        ``progress`` is called with the number of pixels finished after each chunk.
        """
        coords = pixel_centres(height, width, device=latents.tokens.device)
        cell = cell_size(height, width, device=coords.device)
        if not self.config.chunkable:
            chunk = coords.shape[0]
        context = self.prepare(latents)
        pieces = []
        for start in range(0, coords.shape[0], chunk):
            pieces.append(self.decode(latents, coords[start:start + chunk], cell, context=context))
            if progress is not None:
                progress(min(start + chunk, coords.shape[0]))
        out = torch.cat(pieces, dim=1).clamp(0.0, 1.0)
        return rearrange(out, "b (h w) c -> b c h w", h=height, w=width)
