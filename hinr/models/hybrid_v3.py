"""Hybrid v3: the three parts of hinr's design, each on the only path from the input to RGB, over a
whole photo at once. Its fields, its registry row and its modules are all in this file.

Encoder (``HybridV3Encoder``, MAMBA-GINR's): a convolutional stem at full resolution (EDSR
residual blocks) → 2×2 pixel-unshuffle and a linear map to patch tokens, one per 2×2 input
pixels → BiMamba blocks scanning the patch grid's lines, rows in even blocks and columns in odd
ones, each line holding its patches with a learnable position (LP) token after each patch,
as MAMBA-GINR interleaves them; the LP tokens' outputs are the latents, one per patch: a
(H/2) × (W/2) grid of D-wide latents. A scan runs along a line (a few hundred tokens at most, the
lines of a photo batched), so the cost is linear in the pixels and any size is read whole; a row
block then a column block carries every patch's information to every latent.

Processor (SCENT's, ``hinr.models.window_processor``): pre-norm self-attention + GEGLU blocks over
the latents, within windows of ``window`` × ``window`` latents, alternate blocks' windows offset
by half a window, with a relative-position bias.

Decoder (``LocalAttentionDecoder``, SCENT's made local): Gaussian Fourier features of the query's
offset within its latent cell (frequencies on the integer lattice, so the features of the
offset to each of the latents it reads are the same up to the sign, and are continuous as the
query crosses a cell border) and the output pixel's size → cross-attention to the 2 × 2 latents
around the query, keys and values projected once per latent in ``prepare``; each corner's
attention weight is its softmax weight times its bilinear (area) weight, renormalised, so a
corner fades out exactly where it is swapped for the next one and the picture stays continuous
(no seam; but a corner whose logit far exceeds the others' fades over a short stretch, so the
continuity bounds no slope) → GEGLU feed-forward → skip adding the Fourier encoding → RGB. The model adds it to the
bicubic base (``base_skip``). No MLP per corner, no gate, no path around the processor.

Options the pilots tried (``HybridV3Options``; docs/results.md says what each measured):
``patch_size=1`` (a latent per input pixel), wider latents than the stem (``stem_dim``), keys and
values per pixel (``pixel_kv``) with conv blocks over them (``pixel_head``), a 4 × 4 neighbourhood,
values that meet their offset through a GELU (``value_position``), ``modulate``, a latent per
pixel from a scan over 2 × 2 patches (``scan_patch``: the scan's outputs, unpacked to their
pixels, join the stem's features, and the processor runs over those per-pixel latents), and a
query with no phase of its own (``cell_offsets``: position reaches RGB only through each cell's
key and value, in LIIF's order), and a query that carries the content where it stands
(``content_query``: LIT's query, the latent at the query, blended bilinearly from its 2 × 2 cells so
that it stays continuous).

The retrain-ablations are settings of the same file: ``processor_depth=0``; ``encoder_depth=0,
lp_tokens=False`` (stem only); ``lp_tokens=False`` (the patch tokens' outputs are the latents);
``readout="local"`` (LIIF's MLP read-out over the same latents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..config import INPUT_SIZE, Architecture, ModelConfig, register_architecture
from ..layers.computed import computed, on_meta
from ..layers.feedforward import GEGLU
from ..layers.fused import linear_add_gelu, linear_geglu
from .edsr_encoder import ResBlock
from .latents import Latents
from .mamba_encoder import BiMambaBlock
from .parts import Parts
from .window_processor import WindowProcessor

PATCH = 2  # input pixels per latent along each side (``patch_size``; 1: a latent per pixel)


@dataclass
class HybridV3Options:
    """hybrid-v3's own fields (``ModelConfig.options``); the shared ones (``dim``,
    ``encoder_depth``, ``processor_depth``, ``heads``, ``decoder_*``, …) keep their meaning."""

    stem_blocks: int = 4  # EDSR residual blocks at full resolution before the scan
    window: int = 8  # the processor's window side, in latents (16 input px)
    lp_tokens: bool = True  # latents = the LP tokens' outputs (else the patch tokens')
    # with lp_tokens: latents = the patch tokens' outputs + the LP tokens' (a bidirectional scan
    # reaches an LP token placed after its patch, backwards, before that patch: its output alone
    # holds half its own patch)
    lp_sum: bool = False
    decoder_hidden: int = 64  # the decoder's GEGLU hidden width
    offset_frequencies: int = 16  # Fourier features of the query's offset in its cell
    # the attended values also enter multiplied by Fourier features of the offset (content ×
    # position, as LMF / Thera modulate a field per latent): what lets a latent draw detail finer
    # than its cell; off in the first pilots' weights, which load as they were
    modulate: bool = False
    # each latent's keys and values are projected for each of its 2×2 pixels (a learned pixel
    # shuffle in ``prepare``), and the query reads the 2×2 pixels' around it: the decoder places
    # detail at pixel precision, from the latents alone; off in the first pilots' weights
    pixel_kv: bool = False
    # the query reads the k × k key/value cells around it (2: the bilinear corners; 4: as LIT reads
    # a neighbourhood), each weighted by its softmax weight times a taper that reaches 0 where the
    # cell leaves the neighbourhood, so the picture stays continuous
    neighbourhood: int = 2
    stem_dim: int = 0  # the stem's width (0: the latents' width, ``dim``)
    # with pixel_kv: each latent unpacked into its 2×2 pixels' features (this wide), then this
    # many residual 3×3 conv blocks over those pixel features before the keys / values: the
    # read-out's features mix neighbouring latents at pixel level (as LIIF's 3×3 unfolding does),
    # from the latents alone, once per input pixel, not per query (0: off)
    pixel_head: int = 0
    pixel_dim: int = 32
    # > 0: each cell's value is passed through a GELU with Fourier features (this many frequencies)
    # of the query's offset to that cell added first, so content and position meet non-linearly
    # per cell before the cells are blended (what LIIF's MLP does per corner); continuous, as a
    # cell's weight is 0 where it is swapped (0: off)
    value_position: int = 0
    # with value_position: the query's encoding drops its offset within its cell (periodic at the
    # cell pitch) and keeps the pixel size; each cell's key also meets the Fourier features of the
    # query's offset to it (added: LIT's relative position), as its value does (through a GELU).
    # Position then reaches RGB only through the cells, blended by their area, in LIIF's order,
    # where a blend of per-cell terms linear in the offset cancels it: nothing repeats at the cell
    # pitch (the periodic query is what the pilots' dotted edges point at)
    cell_offsets: bool = False
    # > 0 with patch_size 1: the scan runs over this × this patches, and its outputs, unpacked to
    # their pixels, are added to the stem's features: the latents are one per pixel (as liif's) and
    # the scan brings the context, at a quarter of the tokens of a scan over every pixel; the
    # processor then runs over exactly those per-pixel latents (0: the scan reads the latents' own
    # patches)
    scan_patch: int = 0
    # the query also carries the content where it stands, as LIT's query is the latent at the
    # query: each latent projects a content query once (in ``prepare``, beside its key and value),
    # and a query adds its 2 × 2 cells' content queries blended by their bilinear (area) weights,
    # so it stays continuous; its logits then weigh each cell's key against the content around the
    # query (a cell across an edge from it counts less), not only against its pixel size.
    # Zero-initialised: the decoder starts as it is without it
    content_query: bool = False
    # with value_position: each cell's value through this many layers before the blend, the first
    # the GELU where content meets the offset, each further one a GELU(linear) as wide (H·d): LIIF's
    # MLP is 4 layers deep per corner, this read-out 1 (2 costs k² · (H·d)² multiply-adds a pixel)
    value_layers: int = 1

    def __post_init__(self) -> None:
        if self.stem_blocks < 0 or self.window < 1 or self.decoder_hidden < 1 or self.offset_frequencies < 1:
            raise ValueError("stem_blocks must be ≥ 0; window, decoder_hidden, offset_frequencies ≥ 1")
        if self.neighbourhood not in (2, 4) or self.stem_dim < 0:
            raise ValueError(f"neighbourhood must be 2 or 4 (got {self.neighbourhood}); stem_dim ≥ 0")
        if self.lp_sum and not self.lp_tokens:
            raise ValueError("lp_sum adds the LP tokens' outputs: it needs lp_tokens")
        if self.value_position < 0 or (self.cell_offsets and (not self.value_position or self.modulate)):
            raise ValueError("value_position must be ≥ 0 (0: off); cell_offsets needs it > 0 (the "
                             "offsets' features) and modulate off (periodic in the cell)")
        if self.pixel_head < 0 or self.pixel_dim < 1 or (self.pixel_head and not self.pixel_kv):
            raise ValueError("pixel_head (≥ 0) works on pixel features: it needs pixel_kv; pixel_dim ≥ 1")
        if self.scan_patch not in (0, 2) or (self.scan_patch and self.stem_dim):
            raise ValueError("scan_patch is 0 or 2 and keeps the stem as wide as the latents (stem_dim 0)")
        if self.value_layers < 1 or (self.value_layers > 1 and not self.value_position):
            raise ValueError("value_layers must be ≥ 1; more than 1 deepens value_position's per-cell "
                             "GELU, so it needs value_position > 0")
        if self.content_query and self.neighbourhood != 2:
            raise ValueError("content_query blends the 2 × 2 cells' content queries bilinearly: it needs "
                             "neighbourhood 2")


def lattice_frequencies(count: int, scale: float, seed: int = 0) -> torch.Tensor:
    """(2, count) integer frequencies (cycles per latent cell), Gaussian of std ``scale`` rounded,
    none zero: sin/cos of 2π·t·B are then periodic in the cell, so continuous across cells."""
    gen = torch.Generator().manual_seed(seed)
    rows: list[list[float]] = []
    while len(rows) < count:  # on the CPU, in Python: also when models are built on "meta"
        f = [round(v * scale) for v in torch.randn(2, generator=gen, device="cpu").tolist()]
        if any(f):
            rows.append(f)
    return torch.tensor(rows, dtype=torch.float32).t().contiguous()


def cell_steps(k: int) -> torch.Tensor:
    """(k², 2): the k × k cells a query reads, as (x, y) steps from its top-left corner's top-left
    neighbour, row-major: k = 2 the bilinear corners, k = 4 one more ring."""
    steps = torch.arange(k, dtype=torch.float32) - (k // 2 - 1)
    return torch.cartesian_prod(steps, steps).flip(-1)


class HybridV3Encoder(nn.Module):
    def __init__(self, *, dim: int, stem_dim: int, stem_blocks: int, depth: int, lp_tokens: bool,
                 lp_sum: bool = False,
                 mlp_ratio: float, merge: str, d_state: int, d_conv: int, expand: int,
                 processor_depth: int, heads: int, dim_head: int, ff_mult: int, window: int,
                 patch: int = PATCH, scan_patch: int = 0) -> None:
        super().__init__()
        self.patch = patch
        # input pixels per scanned token along each side (coarser than the latents' patches: only
        # patch 1 and a stem as wide as the latents, which the options check)
        self.scan_patch = scan_patch or patch
        if lp_tokens and depth < 1:
            raise ValueError("LP tokens are filled by the scan: lp_tokens needs encoder_depth ≥ 1")
        self.head = nn.Conv2d(3, stem_dim, 3, padding=1)
        self.stem = nn.Sequential(*(ResBlock(dim=stem_dim, res_scale=1.0) for _ in range(stem_blocks)))
        self.to_tokens = nn.Linear(self.scan_patch**2 * stem_dim, dim)
        # scan_patch: each scanned token's output, unpacked to its pixels, joins the stem's features
        self.from_tokens = (nn.Linear(dim, self.scan_patch**2 * dim) if self.scan_patch != patch
                            else None)
        # one learnable token, placed after every patch: the line's position gives it its place
        self.lp_token = (nn.Parameter(computed((dim,), lambda: torch.randn(dim)))  # unit scale, as MAMBA-GINR
                         if lp_tokens else None)
        self.lp_sum = lp_sum
        self.blocks = nn.ModuleList(
            BiMambaBlock(dim=dim, mlp_ratio=mlp_ratio, merge=merge, d_state=d_state,
                         d_conv=d_conv, expand=expand) for _ in range(depth))
        self.processor = WindowProcessor(dim=dim, depth=processor_depth, heads=heads,
                                         dim_head=dim_head, ff_mult=ff_mult, window=window)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [-1, 1] → latents (B, h·w, D), h = ⌈H/p⌉, w = ⌈W/p⌉ for p×p
        patches, row-major (a side that p does not divide is padded by repeating its last pixels)."""
        h, w = images.shape[-2:]
        s = self.scan_patch
        images = F.pad(images, (0, -w % s, 0, -h % s), mode="replicate")
        features = self.head(images.contiguous(memory_format=torch.channels_last))  # oneDNN's layout
        features = features + self.stem(features)  # (B, D, H', W'), padded to a multiple of s
        patches = self.to_tokens(rearrange(features, "b d (h p) (w q) -> b h w (p q d)", p=s, q=s))
        lp = None if self.lp_token is None else self.lp_token.to(patches.dtype).expand_as(patches)
        for index, block in enumerate(self.blocks):
            patches, lp = self.scan_lines(block, patches, lp, columns=index % 2 == 1)
        latents = patches if lp is None else (patches + lp if self.lp_sum else lp)  # (B, H'/s, W'/s, D)
        if self.from_tokens is not None:  # per pixel: the stem's features + the scan's context
            context = rearrange(self.from_tokens(latents), "b h w (p q d) -> b (h p) (w q) d", p=s, q=s)
            latents = (rearrange(features, "b d h w -> b h w d") + context)[:, :h, :w]
        return rearrange(self.processor(latents), "b h w d -> b (h w) d")

    @staticmethod
    def scan_lines(block: nn.Module, patches: torch.Tensor, lp: torch.Tensor | None, *,
                   columns: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One BiMamba block over every row (or column) of the grid, the lines batched; each line
        is its patches, each followed by its LP token. patches, lp (B, h, w, D) → the same."""
        b, h, w, _ = patches.shape
        tokens = patches if lp is None else torch.stack([patches, lp], dim=3)
        tokens = tokens if lp is not None else tokens.unsqueeze(3)  # (B, h, w, t, D), t = 1 or 2
        t = tokens.shape[3]
        line = "b h w t d -> (b w) (h t) d" if columns else "b h w t d -> (b h) (w t) d"
        back = "(b w) (h t) d -> b h w t d" if columns else "(b h) (w t) d -> b h w t d"
        out = rearrange(block(rearrange(tokens, line)), back, b=b, h=h, w=w, t=t)
        return out[:, :, :, 0], (out[:, :, :, 1] if lp is not None else None)


class LocalAttentionDecoder(nn.Module):
    """SCENT's decoder over the 2 × 2 latents around each query (module docstring)."""

    needs_base = False

    def __init__(self, *, context_dim: int, dim: int, heads: int, dim_head: int, hidden: int,
                 frequencies: int, scale: float, modulate: bool = False, pixel_kv: bool = False,
                 neighbourhood: int = 2, pixel_head: int = 0, pixel_dim: int = 32,
                 value_position: int = 0, cell_offsets: bool = False, content_query: bool = False,
                 value_layers: int = 1, patch: int = PATCH) -> None:
        super().__init__()
        self.patch = patch
        inner = heads * dim_head
        # the k × k cells read around a query, (k², 2) as (x, y) steps from the top-left corner's
        # top-left neighbour: k = 2 the bilinear corners, k = 4 one more ring
        self.register_buffer("corners", computed((neighbourhood**2, 2), lambda: cell_steps(neighbourhood)),
                             persistent=False)
        self.heads, self.dim_head, self.inner = heads, dim_head, inner
        # (H·d, H): 1 where channel i belongs to head h
        self.register_buffer("head_of", computed(
            (heads * dim_head, heads), lambda: torch.eye(heads).repeat_interleave(dim_head, dim=0)),
                             persistent=False)
        self.register_buffer("frequencies", lattice_frequencies(frequencies, scale))
        self.cell_offsets = cell_offsets
        # Fourier features of the offset in the cell (none with cell_offsets) ⊕ the pixel size
        self.query_in = nn.Linear((0 if cell_offsets else 2 * frequencies) + 2, dim)
        self.context_norm = nn.LayerNorm(context_dim)
        self.stride = 1 if pixel_kv else patch  # input pixels per key/value cell
        self.to_pixels = self.pixel_blocks = None
        # per cell: its key, its value and (content_query) its content query, each H·d wide
        self.content_query = content_query
        parts = 3 if content_query else 2
        if pixel_head:  # latents → their pixels' features → conv blocks → keys / values per pixel
            self.to_pixels = nn.Linear(context_dim, patch * patch * pixel_dim)
            self.pixel_blocks = nn.Sequential(*(ResBlock(dim=pixel_dim, res_scale=1.0)
                                                for _ in range(pixel_head)))
            self.to_kv = nn.Linear(pixel_dim, parts * inner, bias=False)
        else:
            self.to_kv = nn.Linear(context_dim, (patch * patch if pixel_kv else 1) * parts * inner, bias=False)
        if content_query and not on_meta():  # the content queries' rows start at zero: as without them
            with torch.no_grad():
                rearrange(self.to_kv.weight, "(n t e) c -> n t e c", t=parts, e=inner)[:, 2].zero_()
        self.query_norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        # modulate: the attended values times sin / cos of the offset at inner / 2 lattice
        # frequencies (periodic in the cell, so continuous), projected into the stream
        self.to_modulated = None
        if modulate:
            self.register_buffer("value_frequencies", lattice_frequencies(inner // 2, scale, seed=1))
            self.to_modulated = nn.Linear(2 * (inner // 2), dim, bias=False)
        # value_position: the offset to each cell, in Gaussian Fourier features (cycles per cell)
        self.to_value_position = None
        if value_position:
            gen = torch.Generator().manual_seed(2)
            self.register_buffer("position_frequencies", computed(
                (2, value_position), lambda: torch.randn(2, value_position, generator=gen)))
            # (with cell_offsets, the key's term too)
            self.to_value_position = nn.Linear(2 * value_position, (2 if cell_offsets else 1) * inner)
        # value_layers: the per-cell layers after that GELU, each (H·d → H·d) + GELU
        self.value_layers = nn.ModuleList(nn.Linear(inner, inner) for _ in range(value_layers - 1))
        # per head, how fast attention falls with the distance to a corner (softplus of it)
        self.distance_slope = nn.Parameter(torch.zeros(heads))
        self.ff_norm = nn.LayerNorm(dim)
        # (forward runs ff[0] and the GEGLU as one fused op at inference, then ff[2])
        self.ff = nn.Sequential(nn.Linear(dim, 2 * hidden), GEGLU(), nn.Linear(hidden, dim))
        self.out_norm = nn.LayerNorm(dim)
        self.to_rgb = nn.Linear(dim, 3)
        # zero: an untrained model renders its bicubic base, and the layer's gradient (its input)
        # reaches everything behind it from the first step
        nn.init.zeros_(self.to_rgb.weight)
        nn.init.zeros_(self.to_rgb.bias)

    def start_as_residual(self) -> float:
        raise ValueError("hybrid-v3 has no residual: it adds the bicubic base through base_skip")

    def _content_logits(self, kv: torch.Tensor, index: torch.Tensor, query: torch.Tensor,
                        per_image: int) -> tuple[torch.Tensor, torch.Tensor]:
        """kv (B·cells per image, 2·H·d), the per-cell table from ``prepare``; index (B, Q, k²) the
        rows each query reads; query (B, Q' ∈ {1, Q}, H·d) → the content logits q · k per head
        (B·Q, k², H) and the cells' values (B·Q, k², H·d). With one query per image (Q' = 1) and
        fewer rows within reach than cells read (a render's chunk: a band of rows read 4 times
        over by s² pixels each), q · k is computed once per row, then gathered."""
        b, q, cells = index.shape
        heads = self.head_of.float()  # (H·d, H): per-head sums as one matmul of contiguous rows
        flat = index.reshape(-1)
        if query.shape[1] == 1:
            lo, hi = int(flat.min()), int(flat.max()) + 1
            if hi - lo < flat.numel():
                rows = kv[lo:hi].float()  # (R, 2·H·d)
                image = torch.div(torch.arange(lo, hi, device=kv.device), per_image, rounding_mode="floor")
                table = (rows[:, :self.inner] * query[image, 0]) @ heads  # (R, H)
                flat = flat - lo
                return (table.index_select(0, flat).view(b * q, cells, -1),
                        rows[:, self.inner:].index_select(0, flat).view(b * q, cells, self.inner))
        kv = kv.index_select(0, flat).float().view(b * q, cells, 2 * self.inner)  # rows, no copy after
        k, v = kv[..., :self.inner], kv[..., self.inner:]
        logits = (query.unsqueeze(-2) * k.view(b, q, cells, self.inner)).view(b * q, cells, self.inner) @ heads
        return logits, v

    def _local_query_logits(self, kv: torch.Tensor, index: torch.Tensor, query: torch.Tensor,
                            area: torch.Tensor, per_image: int) -> tuple[torch.Tensor, torch.Tensor]:
        """content_query: kv (B·cells per image, 3·H·d) the per-cell keys, values and content
        queries; index (B, Q, 4) the cells each query reads; query (B, Q' ∈ {1, Q}, H·d); area
        (B, Q, 4) their bilinear weights → ``_content_logits`` of the query plus its cells' content
        queries blended by area (continuous in the query), (B·Q, 4, H) and (B·Q, 4, H·d)."""
        b, q, cells = index.shape
        local = kv[:, 2 * self.inner:].index_select(0, index.reshape(-1)).float().view(b, q, cells, self.inner)
        local = (area.unsqueeze(-1) * local).sum(2)  # (B, Q, H·d)
        return self._content_logits(kv[:, :2 * self.inner], index, query + local, per_image)

    def _key_position(self, query: torch.Tensor, weight: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """q · P φ per head, P folded into the query first: query (B, Q' ∈ {1, Q}, H·d), weight P
        (H·d, 2F), features φ of each cell's offset (B, Q, k², 2F) → the logits' position term
        (B·Q, k², H). The key's bias c adds q · c to every cell of a query alike, which the
        softmax cancels, so it is left out. With one query per render (Q' = 1) the fold is done
        once, and a pixel pays k² · 2F · H multiply-adds where adding P φ to each key cost
        k² · 2F · H·d."""
        b, q, cells, _ = features.shape
        per_head = rearrange(query.unsqueeze(-1) * weight, "b q (h d) f -> b q h d f", h=self.heads).sum(-2)
        if query.shape[1] == 1:  # one folded (2F, H) map for all the queries of an image
            return (features.reshape(b, q * cells, -1) @ per_head[:, 0].transpose(-1, -2)).view(b * q, cells, -1)
        return torch.einsum("bqcf,bqhf->bqch", features, per_head).reshape(b * q, cells, -1)

    def prepare(self, latents: Latents) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """latents.tokens (B, M, D), M = ⌈H/p⌉·⌈W/p⌉; latents.images (B, 3, H, W) → (keys and
        values (and with content_query content queries) of every key/value cell (a latent, or with
        pixel_kv each input pixel), (B·cells, 2 or 3·heads·dim_head); (rows, cols of the cells, H, W))."""
        h, w = latents.images.shape[-2:]
        rows, cols = -(-h // self.patch), -(-w // self.patch)
        if self.pixel_blocks is not None:
            pixels = rearrange(self.to_pixels(self.context_norm(latents.tokens)),
                               "b (h w) (p q e) -> b e (h p) (w q)", h=rows, p=self.patch, q=self.patch)
            pixels = self.pixel_blocks(pixels.contiguous(memory_format=torch.channels_last))
            pixels = pixels[:, :, :h, :w]  # the padding of a side p does not divide, cropped
            return rearrange(self.to_kv(rearrange(pixels, "b e h w -> b h w e")),
                             "b h w e -> (b h w) e"), (h, w, h, w)
        kv = self.to_kv(self.context_norm(latents.tokens))
        if self.stride == 1:  # each latent's 2×2 pixels, the padding of an odd side cropped
            kv = rearrange(kv, "b (h w) (p q e) -> b (h p) (w q) e", h=rows, p=self.patch, q=self.patch)
            kv, rows, cols = kv[:, :h, :w], h, w
            return rearrange(kv, "b h w e -> (b h w) e"), (rows, cols, h, w)
        return rearrange(kv, "b m e -> (b m) e"), (rows, cols, h, w)

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, context,
                base: torch.Tensor | None = None) -> torch.Tensor:
        """coords (B, Q, 2) in [0, 1]; cell (B, Q, 2) the output pixel's size in [0, 1] units;
        context from ``prepare`` → RGB (B, Q, 3), centred on 0."""
        del base
        kv, (rows, cols, h, w) = context
        b, q, _ = coords.shape
        pixels = torch.tensor([w, h], device=coords.device, dtype=torch.float32)
        p = coords.float() * pixels / self.stride - 0.5  # in key/value cells, their centres at integers
        low = torch.floor(p)
        t = p - low  # (B, Q, 2) in [0, 1): the offset from the top-left corner
        cells = self.corners.shape[0]  # k²
        at = low.unsqueeze(-2) + self.corners  # (B, Q, k², 2) the cells read, (x, y)
        limit = torch.tensor([cols - 1, rows - 1], device=p.device, dtype=p.dtype)
        at_clamped = torch.minimum(at.clamp_min(0), limit)
        index = (at_clamped[..., 1] * cols + at_clamped[..., 0]).long()
        index = index + torch.arange(b, device=p.device).view(b, 1, 1) * (rows * cols)
        offset = at - p.unsqueeze(-2)  # (B, Q, k², 2) from the query to each cell, in cells
        if cells == 4:  # bilinear weights, sum to 1
            area = (1.0 - offset.abs()).clamp_min(0).prod(-1)
        else:  # cos² taper, 0 where a cell leaves the 4 × 4 neighbourhood (|offset| = 2)
            area = torch.cos(offset.clamp(-2.0, 2.0) * (math.pi / 4)).pow(2).prod(-1)
        # the query: Fourier features of its offset (periodic in the cell; not with cell_offsets)
        # and its pixel size
        with torch.autocast(coords.device.type, enabled=False):
            size = cell.float() * pixels / self.stride
            if self.cell_offsets:
                encoding = size
            else:
                angle = (2.0 * math.pi) * (t @ self.frequencies.float())
                encoding = torch.cat([angle.sin(), angle.cos(), size], dim=-1)
        if self.cell_offsets and bool((encoding == encoding[:, :1]).all()):
            encoding = encoding[:, :1]  # one pixel size (a whole render): one query serves all
        x0 = self.query_in(encoding)  # (B, Q or 1, dim)
        query = self.to_q(self.query_norm(x0)).float()  # (B, Q or 1, H·d)
        if self.content_query:  # (N, k², H), (N, k², H·d)
            logits, v = self._local_query_logits(kv, index, query, area, rows * cols)
        else:
            logits, v = self._content_logits(kv, index, query, rows * cols)
        if self.to_value_position is not None:  # each cell's value meets its offset, non-linearly
            with torch.autocast(coords.device.type, enabled=False):
                turn = (2.0 * math.pi) * (offset.reshape(b * q, cells, 2) @ self.position_frequencies.float())
                features = torch.cat([turn.sin(), turn.cos()], dim=-1)  # (N, k², 2F)
                weight, bias = self.to_value_position.weight.float(), self.to_value_position.bias.float()
                if self.cell_offsets:  # the key's term (rows :H·d) enters q · (k + P φ + c): folded
                    logits = logits + self._key_position(query, weight[:self.inner],
                                                         features.view(b, q, cells, -1))
                    weight, bias = weight[self.inner:], bias[self.inner:]
                v = linear_add_gelu(features, weight, bias, v)  # gelu(v + position), (N, k², H·d)
            for layer in self.value_layers:
                v = F.gelu(layer(v))
        # each cell's weight: its softmax weight times its area, renormalised, i.e. the softmax of
        # logits / √d − slope · distance² + log(area) (−inf where the area is 0; the nearest cell's
        # is ≥ 1/4, so some logit is finite), (N, k², H)
        distance = offset.reshape(b * q, cells, 2).pow(2).sum(-1, keepdim=True)
        logits = torch.addcmul(area.reshape(b * q, cells, 1).log(), F.softplus(self.distance_slope.float()),
                               distance, value=-1.0).add_(logits, alpha=1.0 / math.sqrt(self.dim_head))
        weight = torch.softmax(logits, dim=1)
        attended = (weight.unsqueeze(-1) * v.view(b * q, cells, self.heads, -1)).sum(1).view(b, q, self.inner)
        x = x0 + self.to_out(attended.to(x0.dtype))
        if self.to_modulated is not None:
            with torch.autocast(coords.device.type, enabled=False):
                phase = (2.0 * math.pi) * (t @ self.value_frequencies.float())
                waves = torch.cat([phase.sin(), phase.cos()], dim=-1)  # (B, Q, 2·(inner // 2))
            x = x + self.to_modulated((attended[..., :waves.shape[-1]] * waves).to(x0.dtype))
        x = x + self.ff[2](linear_geglu(self.ff_norm(x), self.ff[0]))  # ff, its GEGLU fused
        return self.to_rgb(self.out_norm(x + x0)).float()  # SCENT's skip: the encoding added back


# --- the registry row ------------------------------------------------------------------------------
def _parts(c: ModelConfig) -> Parts:
    return Parts(_encoder, False, _decoder, reads_locally=c.readout == "attention")


def _encoder(c: ModelConfig) -> nn.Module:
    o = c.arch_options
    return HybridV3Encoder(
        dim=c.dim, stem_dim=o.stem_dim or c.dim, stem_blocks=o.stem_blocks, depth=c.encoder_depth,
        lp_tokens=o.lp_tokens, lp_sum=o.lp_sum, mlp_ratio=c.encoder_mlp_ratio, merge=c.bimamba_merge, d_state=c.d_state, d_conv=c.d_conv,
        expand=c.expand, processor_depth=c.processor_depth, heads=c.heads, dim_head=c.dim_head,
        ff_mult=c.ff_mult, window=o.window, patch=c.patch_size, scan_patch=o.scan_patch)


def _decoder(c: ModelConfig) -> nn.Module:
    o = c.arch_options
    return LocalAttentionDecoder(
        context_dim=c.dim, dim=c.decoder_dim, heads=c.decoder_heads, dim_head=c.decoder_dim_head,
        hidden=o.decoder_hidden, frequencies=o.offset_frequencies, scale=c.fourier_scale,
        modulate=o.modulate, pixel_kv=o.pixel_kv, neighbourhood=o.neighbourhood,
        pixel_head=o.pixel_head, pixel_dim=o.pixel_dim, value_position=o.value_position,
        cell_offsets=o.cell_offsets, content_query=o.content_query, value_layers=o.value_layers,
        patch=c.patch_size)


def _checks(c: ModelConfig) -> None:
    if c.residual:
        raise ValueError("hybrid-v3 adds the bicubic base through base_skip, not residual: drop --residual")
    if c.patch_size not in (1, 2):
        raise ValueError(f"hybrid-v3 reads 1×1 or 2×2 patches: patch_size 1 or 2, got {c.patch_size}")
    if c.arch_options.scan_patch and c.patch_size != 1:
        raise ValueError("scan_patch gives a latent per pixel from a coarser scan: it needs patch_size 1")
    if c.image_size % c.patch_size:
        raise ValueError(f"hybrid-v3 reads {c.patch_size}×{c.patch_size} patches: image_size must be "
                         f"a multiple of {c.patch_size}, got {c.image_size}")


def _decoder_macs(c: ModelConfig) -> int:
    """Multiply-adds per output pixel of the local SCENT decoder (benchmarks/bench_decoder_flops.py)."""
    o, inner = c.arch_options, c.decoder_heads * c.decoder_dim_head
    d = c.decoder_dim
    cells, features = o.neighbourhood ** 2, 2 * o.value_position
    # with cell_offsets a render of one pixel size computes one query (and folds the keys'
    # position term into it): none of that is paid per pixel, only the folded term per cell
    query = 0 if o.cell_offsets else (2 * o.offset_frequencies + 2) * d + d * inner
    key_position = cells * features * c.decoder_heads if o.cell_offsets else 0
    return (query + key_position  # the query's encoding in and to_q; the keys' position term
            + 2 * cells * inner  # logits and the weighted values over k² cells
            + (cells * inner if o.content_query else 0)  # the cells' content queries blended
            + cells * features * inner  # each cell's value meets its offset
            + cells * inner * inner * (o.value_layers - 1)  # and its further layers
            + inner * d + d * 2 * o.decoder_hidden + o.decoder_hidden * d + d * 3
            + (2 * (inner // 2) * d if o.modulate else 0))


register_architecture(Architecture(
    "hybrid-v3", "conv stem → BiMamba line scans with LP tokens → windowed SCENT processor → "
    "local SCENT decoder (2×2 latents) + bicubic", _parts,
    sizes={
        "base": dict(dim=256, encoder_depth=6, processor_depth=4, heads=8, dim_head=64, ff_mult=4,
                     decoder_dim=256, decoder_heads=8, decoder_dim_head=32,
                     options=dict(stem_blocks=8, window=8, decoder_hidden=256)),
        # d_state 8 and expand 1 (mamba_ssm: 16, 2): the scan is most of a CPU step, and these
        # halve it; a step then costs about a liif step with the same 64-wide stem
        "small": dict(dim=64, encoder_depth=2, encoder_mlp_ratio=2.0, d_state=8, expand=1,
                      processor_depth=2, heads=4,
                      dim_head=16, ff_mult=2, decoder_dim=48, decoder_heads=4, decoder_dim_head=12,
                      decoder_depth=3, options=dict(stem_blocks=4, window=8, decoder_hidden=64)),
        "tiny": dict(dim=32, encoder_depth=2, encoder_mlp_ratio=2.0, processor_depth=1, heads=2,
                     dim_head=16, ff_mult=2, decoder_dim=32, decoder_heads=2, decoder_dim_head=16,
                     decoder_depth=2, options=dict(stem_blocks=2, window=4, decoder_hidden=32))},
    defaults=dict(readout="attention", fourier_scale=2.0, base_skip=True, patch_size=PATCH),
    fixed=dict(cell_input=True, unfold=True, lp_placement="interleave"),
    validate=_checks,
    derive=lambda f: {**f, "num_latents": (f.get("image_size", INPUT_SIZE) // f.get("patch_size", PATCH)) ** 2},
    # the scans reach the whole input; tiles of a photo too large for memory overlap by this much
    receptive_radius=lambda c: 48,
    bytes_per_query=lambda c: 4 * (c.arch_options.neighbourhood ** 2 * c.decoder_heads * c.decoder_dim_head
                                   * ((3 if c.arch_options.content_query else 2) + c.arch_options.value_layers - 1)
                                   + 6 * c.decoder_dim + 2 * c.arch_options.decoder_hidden + 64),
    describe=lambda c: (f"stem ×{c.arch_options.stem_blocks} + BiMamba ×{c.encoder_depth} + "
                        f"window SCENT ×{c.processor_depth}",
                        f"local SCENT {c.decoder_dim}" if c.readout == "attention"
                        else f"local MLP {c.decoder_dim} × {c.decoder_depth}"),
    options=HybridV3Options, train_recipe=False,
))
