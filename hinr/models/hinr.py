"""The hinr model: encode a 32×32 image once into latent tokens, then decode RGB at any continuous
(x, y) coordinates (LIIF's encode / decode split).

``HINR(config)`` assembles the architecture named by ``config.arch`` from its parts, as that
architecture's module says (``hinr/models/<arch>.py``, its registry row):

    hybrid      MambaEncoder      → Processor → ScentDecoder
    hybrid-v3   HybridV3Encoder (stem, BiMamba, window processor) → LocalAttentionDecoder
    hybrid-v2   HybridV2Encoder (stem, BiMamba, processor)        → HybridV2Decoder
    mamba-ginr  MambaEncoder                  → LainrDecoder
    scent       PerceiverEncoder  → Processor → ScentDecoder
    liif        EdsrEncoder                   → LocalDecoder

(``readout="local"`` puts the LocalDecoder after any encoder; ``hinr models`` lists them.)

With ``config.residual`` the output is the PIL-exact bicubic interpolation of the input plus the
decoder's correction, scaled by a learnable per-channel gate that starts at zero, so an untrained
model renders exactly PIL's bicubic resize.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import DEFAULT_CHUNK, ModelConfig
from ..coords import cell_size
from ..layers.bicubic import pil_bicubic
from .latents import Latents
from .parts import parts_for
from .processor import Processor
from .render import render_latents


class HINR(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        parts = parts_for(c)
        self.encoder = parts.encoder(c)
        self.processor = Processor(dim=c.dim, depth=c.processor_depth, heads=c.heads,
                                   dim_head=c.dim_head, ff_mult=c.ff_mult) if parts.processor else None
        # every decoder: prepare(latents) → context, forward(coords, cell, context, base) → RGB
        self.decoder = parts.decoder(c)
        # residual: the correction starts switched off, so an untrained residual model is
        # exactly bicubic; each decoder says how (a closed gate, or a zero output layer)
        self.residual_gate = None
        if c.residual:
            self.residual_gate = nn.Parameter(torch.full((3,), self.decoder.start_as_residual()))
        # base_skip: a fresh model starts as bicubic plus its decoder
        self.base_skip = nn.Parameter(torch.ones(3)) if c.base_skip else None

    # ----------------------------------------------------------------------------------------
    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, images: torch.Tensor) -> Latents:
        """images (B, 3, S, S) in [0, 1], S = config.image_size → Latents with tokens (B, M, D).

        A fully convolutional model (``config.whole_image``) also encodes (B, 3, H, W) of any
        size at once: M = H·W latents, one per input pixel; one whose architecture
        ``trains_any_size`` (hybrid-v2) too, its token count following H·W."""
        s = self.config.image_size
        if self.config.any_input_size:
            if images.ndim != 4 or images.shape[1] != 3:
                raise ValueError(f"encode takes (B, 3, H, W) images, got {tuple(images.shape)}")
        elif images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (s, s):
            raise ValueError(f"encode takes (B, 3, {s}, {s}) images, got {tuple(images.shape)}")
        tokens = self.encoder(images * 2.0 - 1.0)
        if self.processor is not None:
            tokens = self.processor(tokens)
        return Latents(tokens, images)

    def prepare(self, latents: Latents):
        """Per-image decoder context, reusable across chunks (the cross-attention keys and values,
        or for the local read-out each latent's first-layer activation)."""
        return self.decoder.prepare(latents)

    @property
    def needs_base(self) -> bool:
        """Whether ``decode`` reads the bicubic value at each query (residual, base_skip, or a
        decoder that takes it)."""
        return self.residual_gate is not None or self.base_skip is not None or self.decoder.needs_base

    def decode(self, latents: Latents, coords: torch.Tensor, cell: torch.Tensor | None = None,
               *, context: tuple[torch.Tensor, torch.Tensor] | None = None,
               base: torch.Tensor | None = None) -> torch.Tensor:
        """RGB at continuous coordinates.

        coords (Q, 2) or (B, Q, 2), (x, y) in [0, 1] at pixel centres (see hinr.coords);
        cell (2,), (B, 2) or (B, Q, 2): the output pixel's extent in [0, 1] units (default: one
        input pixel);
        context: from ``prepare`` to skip recomputing it;
        base (B, Q, 3): the PIL bicubic value at each query where the caller has it (the grid
        renderer computes it separably, ``hinr.layers.bicubic.bicubic_grid``). Returns (B, Q, 3), roughly in [0, 1]
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
        if cell.ndim == 2:
            cell = cell.unsqueeze(1).expand(-1, coords.shape[1], -1)
        # the bicubic base stays fp32 under autocast: in bf16 the "exact" bicubic would be off by
        # up to 2 grey levels
        if not self.needs_base:
            base = None
        elif base is not None:
            base = base.to(coords.device, torch.float32)
        else:
            with torch.autocast(coords.device.type, enabled=False):
                base = pil_bicubic(latents.images.float(), coords, cell)
        if context is None:
            context = self.prepare(latents)
        out = self.decoder(coords, cell, context, base).float()
        if self.residual_gate is not None:
            return base + self.residual_gate * out
        if self.base_skip is not None:
            out = out + self.base_skip * (base - 0.5)
        return out + 0.5  # the decoder works around mid-grey

    def forward(self, images: torch.Tensor, coords: torch.Tensor,
                cell: torch.Tensor | None = None) -> torch.Tensor:
        """images (B, 3, S, S); coords (Q, 2) or (B, Q, 2) → RGB (B, Q, 3)."""
        return self.decode(self.encode(images), coords, cell)

    def render(self, latents: Latents, height: int, width: int, *, chunk: int = DEFAULT_CHUNK,
               precision: str | torch.dtype = "fp32",
               progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Every pixel of an H×W image → (B, 3, H, W) in [0, 1] on the latents' device.

        Decodes ``chunk`` queries at a time through the one renderer (``hinr.models.render``), so memory is
        bounded by ``chunk``, not by H×W; ``progress`` gets (pixels done, pixels in all).
        """
        return render_latents(self, latents, height, width, chunk=chunk, precision=precision,
                              out_device=None, progress=progress)
