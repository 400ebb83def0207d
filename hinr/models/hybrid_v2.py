"""Hybrid v2: the hybrid design given what the convolutional encoder has and v1 lacked — detail at
pixel level and 2D locality — while keeping its three parts.

Encoder (``HybridV2Encoder``):
  a convolutional stem at full resolution (EDSR residual blocks, one feature per input pixel) →
  pixel-unshuffle 2×2 and a linear map into 256 patch tokens (Mamba's sequence stays short) →
  joined with the learnable position (LP) tokens, interleaved as MAMBA-GINR does → BiMamba blocks
  whose patch order alternates row-major / column-major by block (``scan_order="alternate"``, as
  MambaIRv2 and Hi-Mamba alternate directions), so 2D neighbours meet in the scan →
  - the patch tokens' outputs, pixel-shuffled back and added to the stem features: the *local*
    feature map (S², D), one feature per input pixel, as LIIF's;
  - the LP tokens' outputs through the SCENT processor (self-attention): the *global* latents (M, D).
  ``tokens`` = the two concatenated, (B, S² + M, D), so latents files and the renderer stay as
  they are.

Decoder (``HybridV2Decoder``): LIIF's local read-out over the local map (the four nearest
features, blended continuously) plus the SCENT decoder over the global latents (Gaussian Fourier
features of the query → cross-attention → GEGLU feed-forwards → Fourier skip → RGB), joined
through a per-channel gate: the untrained model is exactly its local part, and the global part is
kept only where training finds it pays. ``global_start="output"`` (the default) starts the global
decoder's RGB layer at zero with the gate open, so that layer learns from the first step (a zero
layer's gradient is its input); ``"gate"`` starts the gate at zero, where the gate's gradient and
every global weight's are zero together — the first runs' gate never left ±0.001.

Its own fields (``HybridV2Options``), its modules and its registry row are all in this file:
``dim`` is the stem, token and latent width; ``encoder_depth`` the BiMamba blocks;
``decoder_dim`` / ``decoder_depth`` the local MLP (liif's); the global SCENT decoder is
``fourier_features`` / ``decoder_heads`` × ``decoder_dim_head`` wide at ``dim``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from ..config import Architecture, ModelConfig, register_architecture
from ..layers.computed import computed, on_meta
from .edsr_encoder import ResBlock
from .latents import Latents
from .local_decoder import LocalDecoder
from .mamba_encoder import BiMambaBlock, interleave_positions
from .parts import Parts
from .processor import Processor
from .scent_decoder import ScentDecoder

SCAN_ORDERS = ("row", "alternate")
GLOBAL_STARTS = ("output", "gate")


@dataclass
class HybridV2Options:
    """hybrid-v2's own fields (``ModelConfig.options``)."""

    stem_depth: int = 4  # residual conv blocks at full resolution before the scan
    scan_order: str = "alternate"  # patch order per BiMamba block: row | alternate (row, column, …)
    # how the global path starts silent (an initialisation only; loading ignores it). "output":
    # its RGB layer at zero and its gate open at 1, so the layer's gradient is the global
    # features from the first step; "gate": the gate at 0 (the first runs: the gate and every
    # global gradient start at exactly zero, and the gate stayed within ±0.001 in 6k steps)
    global_start: str = "output"

    def __post_init__(self) -> None:
        if self.scan_order not in SCAN_ORDERS:
            raise ValueError(f"scan_order must be one of {SCAN_ORDERS}, got {self.scan_order!r}")
        if self.global_start not in GLOBAL_STARTS:
            raise ValueError(f"global_start must be one of {GLOBAL_STARTS}, got {self.global_start!r}")
ORDER_NAMES = ("lp_positions", "patch_positions", "column_order", "column_inverse")


def scan_layout(rows: int, cols: int, num_latents: int) -> tuple[torch.Tensor, ...]:
    """Where each token sits in the scan over a rows × cols grid of patch tokens with
    ``num_latents`` LP tokens interleaved (int64, in ``ORDER_NAMES``' order): the LP tokens'
    sequence positions (M,) and the patch tokens' (L,); the column-major order of the patches
    (token i of a column scan is patch ``column_order[i]``) and its inverse (L,)."""
    lp_positions, patch_positions = interleave_positions(rows * cols, num_latents)
    # on the CPU whatever the default device, as interleave_positions (hinr.layers.computed)
    column_order = torch.arange(rows * cols, device="cpu").reshape(rows, cols).t().reshape(-1)
    return lp_positions, patch_positions, column_order, torch.argsort(column_order)


class HybridV2Encoder(nn.Module):
    def __init__(self, *, image_size: int, dim: int, stem_depth: int, num_latents: int, depth: int,
                 mlp_ratio: float, merge: str, d_state: int, d_conv: int, expand: int,
                 scan_order: str, processor_depth: int, heads: int, dim_head: int,
                 ff_mult: int) -> None:
        super().__init__()
        if scan_order not in SCAN_ORDERS:
            raise ValueError(f"scan_order must be one of {SCAN_ORDERS}, got {scan_order!r}")
        self.grid = image_size // 2  # patch tokens per side after the 2×2 unshuffle
        self.scan_order = scan_order
        self.head = nn.Conv2d(3, dim, 3, padding=1)
        self.stem = nn.Sequential(*(ResBlock(dim=dim, res_scale=1.0) for _ in range(stem_depth)))
        self.to_tokens = nn.Linear(4 * dim, dim)
        # as MAMBA-GINR: unit scale
        self.lp_tokens = nn.Parameter(computed((num_latents, dim), lambda: torch.randn(num_latents, dim)))
        self.blocks = nn.ModuleList(
            BiMambaBlock(dim=dim, mlp_ratio=mlp_ratio, merge=merge, d_state=d_state,
                         d_conv=d_conv, expand=expand) for _ in range(depth))
        self.token_norm = nn.LayerNorm(dim)
        self.from_tokens = nn.Linear(dim, 4 * dim)
        # small: at initialisation the local map is nearly the stem's, the scan adds to it as it
        # learns (not zero, which would starve the scan of gradients from the first step)
        if not on_meta():  # shapes only there (hinr.layers.computed)
            nn.init.normal_(self.from_tokens.weight, std=1e-3)
        nn.init.zeros_(self.from_tokens.bias)
        self.processor = Processor(dim=dim, depth=processor_depth, heads=heads, dim_head=dim_head,
                                   ff_mult=ff_mult)
        self.num_latents = num_latents
        for name, order in zip(ORDER_NAMES, scan_layout(self.grid, self.grid, num_latents)):
            self.register_buffer(name, order, persistent=False)

    def layout(self, rows: int, cols: int) -> tuple[torch.Tensor, ...]:
        """``scan_layout`` for a rows × cols patch grid: the buffers for the S×S input, computed
        for another size (``--input-size`` training)."""
        if (rows, cols) == (self.grid, self.grid):
            return tuple(getattr(self, name) for name in ORDER_NAMES)
        device = self.lp_positions.device
        return tuple(order.to(device) for order in scan_layout(rows, cols, self.num_latents))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [-1, 1], H and W even (S × S in use) → tokens (B, H·W + M, D):
        the local map, then the global latents."""
        if images.shape[-2] % 2 or images.shape[-1] % 2:
            raise ValueError(f"hybrid-v2 reads images of even sides (2×2 patches), got {tuple(images.shape)}")
        features = self.head(images.contiguous(memory_format=torch.channels_last))  # oneDNN's layout
        features = features + self.stem(features)  # (B, D, H, W)
        rows, cols = features.shape[-2] // 2, features.shape[-1] // 2
        lp_positions, patch_positions, column_order, column_inverse = self.layout(rows, cols)
        patches = self.to_tokens(rearrange(features, "b d (h p) (w q) -> b (h w) (p q d)", p=2, q=2))
        b, n, dim = patches.shape
        lp = self.lp_tokens.to(patches.dtype).expand(b, -1, -1)
        for index, block in enumerate(self.blocks):
            column = self.scan_order == "alternate" and index % 2 == 1
            x = patches.new_empty(b, n + lp.shape[1], dim)
            x[:, patch_positions] = patches[:, column_order] if column else patches
            x[:, lp_positions] = lp
            x = block(x)
            patches, lp = x[:, patch_positions], x[:, lp_positions]
            if column:
                patches = patches[:, column_inverse]
        shuffled = rearrange(self.from_tokens(self.token_norm(patches)),
                             "b (h w) (p q d) -> b d (h p) (w q)", h=rows, p=2, q=2)
        local = rearrange(features + shuffled, "b d h w -> b (h w) d")
        return torch.cat([local, self.processor(lp)], dim=1)


class HybridV2Decoder(nn.Module):
    """The local read-out plus the gated global SCENT decoder; LocalDecoder's interface."""

    def __init__(self, *, dim: int, image_size: int, hidden: int, depth: int, cell_input: bool,
                 global_dim: int, heads: int, dim_head: int, ff_mult: int,
                 fourier_features: int, fourier_scale: float, global_start: str = "output") -> None:
        super().__init__()
        self.local = LocalDecoder(context_dim=dim, side=image_size, image_size=image_size,
                                  hidden=hidden, depth=depth, unfold=True, cell_input=cell_input,
                                  pixel_view=0)
        self.globe = ScentDecoder(context_dim=dim, extras=None, dim=global_dim, depth=1, heads=heads,
                                  dim_head=dim_head, ff_mult=ff_mult, self_attn=0,
                                  fourier_features=fourier_features, fourier_scale=fourier_scale,
                                  locality_grid=None)
        # either way the untrained model is its local part (the module docstring says which learns)
        if global_start == "output":
            self.global_gate = nn.Parameter(torch.ones(3))
            nn.init.zeros_(self.globe.to_rgb.weight)
            nn.init.zeros_(self.globe.to_rgb.bias)
        elif global_start == "gate":
            self.global_gate = nn.Parameter(torch.zeros(3))
        else:
            raise ValueError(f"global_start must be one of {GLOBAL_STARTS}, got {global_start!r}")

    needs_base = False

    def start_as_residual(self) -> float:
        raise ValueError("hybrid-v2 has no residual: it adds the bicubic base through base_skip")

    def prepare(self, latents: Latents):
        """latents.tokens (B, H·W + M, D), latents.images (B, 3, H, W) → (the local read-out's
        context over the H·W features, the global decoder's over the M latents)."""
        tokens, pixels = latents.tokens, latents.images.shape[-2] * latents.images.shape[-1]
        local = Latents(tokens[:, :pixels], latents.images)
        globe = Latents(tokens[:, pixels:], latents.images)
        return self.local.prepare(local), self.globe.prepare(globe)

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, context, base=None) -> torch.Tensor:
        """coords (B, Q, 2), cell (B, Q, 2), context from ``prepare`` → RGB (B, Q, 3), centred on 0."""
        local, globe = context
        out = self.local(coords, cell, local, base)
        return out + self.global_gate * self.globe(coords, cell, globe).float()


# --- the registry row ------------------------------------------------------------------------------
def _encoder(c: ModelConfig) -> nn.Module:
    o = c.arch_options
    return HybridV2Encoder(
        image_size=c.image_size, dim=c.dim, stem_depth=o.stem_depth, num_latents=c.num_latents,
        depth=c.encoder_depth, mlp_ratio=c.encoder_mlp_ratio, merge=c.bimamba_merge,
        d_state=c.d_state, d_conv=c.d_conv, expand=c.expand, scan_order=o.scan_order,
        processor_depth=c.processor_depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult)


def _decoder(c: ModelConfig) -> nn.Module:
    return HybridV2Decoder(
        dim=c.dim, image_size=c.image_size, hidden=c.decoder_dim, depth=c.decoder_depth,
        cell_input=c.cell_input, global_dim=c.dim, heads=c.decoder_heads,
        dim_head=c.decoder_dim_head, ff_mult=c.decoder_ff_mult,
        fourier_features=c.fourier_features, fourier_scale=c.fourier_scale,
        global_start=c.arch_options.global_start)


def _parts(c: ModelConfig) -> Parts:
    # its processor runs inside its encoder, over the LP latents only
    return Parts(_encoder, False, _decoder, reads_locally=True)


def _checks(c: ModelConfig) -> None:
    if c.readout != "local" or c.residual:
        raise ValueError("hybrid-v2 reads out locally (readout='local') and has no residual: "
                         "drop --residual (--base-skip adds the bicubic base)")


register_architecture(Architecture(
    "hybrid-v2", "conv stem → BiMamba (row/column scans) + LP tokens → SCENT processor → LIIF "
    "read-out + gated SCENT decoder", _parts,
    sizes={
        "base": dict(dim=256, encoder_depth=6, num_latents=256, processor_depth=4,
                     heads=8, dim_head=64, decoder_dim=256, decoder_depth=4, decoder_heads=8,
                     decoder_dim_head=64, fourier_features=128, options=dict(stem_depth=8)),
        "small": dict(dim=64, encoder_depth=4, encoder_mlp_ratio=2.0, num_latents=64,
                      processor_depth=2, heads=4, dim_head=16, ff_mult=2, decoder_dim=128,
                      decoder_depth=3, decoder_heads=2, decoder_dim_head=16, fourier_features=32,
                      options=dict(stem_depth=8)),
        "tiny": dict(dim=32, encoder_depth=2, encoder_mlp_ratio=2.0, num_latents=64,
                     processor_depth=1, heads=2, dim_head=16, ff_mult=2, decoder_dim=128,
                     decoder_depth=2, decoder_heads=2, decoder_dim_head=16, fourier_features=16,
                     options=dict(stem_depth=4))},
    fixed=dict(readout="local", unfold=True, cell_input=True, patch_size=2, lp_placement="interleave"),
    validate=_checks, train_recipe=False,
    trains_any_size=True,  # the stem is convolutional, the scan as long as the input
    bytes_per_query=lambda c: 4 * (4 * 3 * c.decoder_dim + 32) + 4 * (
        2 * c.decoder_heads * c.num_latents + 8 * c.dim + 2 * c.fourier_features),
    describe=lambda c: (f"stem ×{c.arch_options.stem_depth} + BiMamba ×{c.encoder_depth}",
                        f"local MLP {c.decoder_dim} × {c.decoder_depth} + gated SCENT"),
    options=HybridV2Options))
