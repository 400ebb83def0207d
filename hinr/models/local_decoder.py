"""LIIF's local implicit read-out over the latent grid (an option for every architecture, and the
decoder of the ``liif`` architecture).

The M latents sit on a G×G grid over the image (row-major, latent (i, j) owns the cell centred
at ((j + 0.5)/G, (i + 0.5)/G)). A query is decoded from the four latents whose cell centres
surround it: each predicts RGB from its own feature (with LIIF's 3×3 feature unfolding), the
query's offset from its centre (in cells) and, optionally, the output pixel's size in cells
(LIIF's cell decoding); the four predictions are blended with bilinear weights (LIIF's
area-weighted local ensemble). So

- a query's cost does not depend on M — four gathers and one small MLP, whatever the grid;
- each part of the picture can only come from the latents there, so the latents must carry it;
- the output is continuous across cell borders (a corner's weight reaches zero where it is
  swapped for the next), which is what keeps a grid pattern out of the picture.

``pixel_view = k`` adds the k×k input pixels around each cell centre to that latent's feature.
They belong to the corner, not to the query, so they too are blended continuously (a per-query
tap window, as the attention read-out uses, switches as the query crosses an input pixel).
``base_input`` (residual models) adds the bicubic value at the query to the query's inputs: the
first layer is linear, so the corner can read its pixels relative to it, as a residual over
bicubic wants, while everything stays continuous in the query.

Everything that depends only on the latents — unfolding, the pixel view, and the first layer's
product with both — is computed once per image in ``prepare``; per query there are only the
four gathers, a 4-wide linear map and the hidden layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..layers.fused import linear_relu
from .latents import Latents


class LocalDecoder(nn.Module):
    BLOCK_ROWS = 8192  # (query, corner) rows decoded at once outside training (see ``forward``)

    def __init__(self, *, context_dim: int, side: int, image_size: int, hidden: int, depth: int,
                 unfold: bool, cell_input: bool, pixel_view: int, base_input: bool = False) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("the local read-out needs at least one hidden layer")
        self.side = side
        self.unfold = unfold
        self.cell_input = cell_input
        self.base_input = base_input
        self.pixel_view = pixel_view
        self.stride = image_size // side  # input pixels per latent cell
        self.context_norm = nn.LayerNorm(context_dim)
        feature_dim = context_dim * (9 if unfold else 1)
        self.feature_in = nn.Linear(feature_dim, hidden)
        self.pixels_in = nn.Linear(3 * pixel_view**2, hidden, bias=False) if pixel_view else None
        self.query_in = nn.Linear(2 + 2 * cell_input + 3 * base_input, hidden, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.to_rgb = nn.Linear(hidden, 3)

    @property
    def needs_base(self) -> bool:
        """Whether ``forward`` reads the bicubic value at the query."""
        return self.base_input

    def start_as_residual(self) -> float:
        """A residual model starts as exactly its base: here through a zero output layer and an
        open gate (returned), so the whole decoder gets gradients from the first step (a closed
        gate starves them: it only opens once the correction is useful, and the correction only
        learns once it is open)."""
        nn.init.zeros_(self.to_rgb.weight)
        nn.init.zeros_(self.to_rgb.bias)
        return 1.0

    def grid(self, images: torch.Tensor) -> tuple[int, int]:
        """(rows, cols) of the latent grid of images (B, 3, H, W): (G, G) for the S×S input, and
        (H, W) / stride for a whole image through a fully convolutional encoder."""
        return images.shape[-2] // self.stride, images.shape[-1] // self.stride

    def prepare(self, latents: Latents) -> tuple[torch.Tensor, tuple[int, int]]:
        """latents.tokens (B, M, D), M = rows × cols of ``grid(images)``; latents.images
        (B, 3, H, W) in [0, 1] → (each latent's first-layer activation before the query term,
        (B, M, hidden); the grid's (rows, cols))."""
        return self.activations(latents.tokens, latents.images.float()), self.grid(latents.images)

    def activations(self, latents: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``prepare``'s first part, from the tokens (B, M, D) and images (B, 3, H, W)."""
        rows, cols = self.grid(images)
        grid = rearrange(self.context_norm(latents), "b (h w) d -> b d h w", h=rows, w=cols)
        out = self._first_layer(grid)
        if self.pixels_in is not None:
            out = out + self.pixels_in(self._pixel_windows(images).to(out.dtype))
        return out

    def _first_layer(self, grid: torch.Tensor) -> torch.Tensor:
        """grid (B, D, rows, cols) → the first layer's product with each latent's feature, (B, M, hidden).

        With ``unfold`` (LIIF: each latent also sees its 8 neighbours, zeros past the border) the
        3×3 unfolding followed by the linear layer is one 3×3 convolution with the layer's weights
        (unfold orders its channels (d, ky, kx), as conv2d's weights are): the same numbers, without
        the 9×-wide copy. It runs in fp32 (6.5× faster than unfold + linear on a 480×270 input on
        this CPU, whose bf16 convolution is slower than its fp32 one) and returns the autocast
        dtype, as the linear layer did."""
        if not self.unfold:
            return self.feature_in(rearrange(grid, "b d h w -> b (h w) d"))
        kind = grid.device.type
        weight = rearrange(self.feature_in.weight, "o (d ky kx) -> o d ky kx", ky=3, kx=3)
        with torch.autocast(kind, enabled=False):
            out = F.conv2d(grid.float(), weight.float(), self.feature_in.bias.float(), padding=1)
        out = rearrange(out, "b o h w -> b (h w) o")
        return out.to(torch.get_autocast_dtype(kind)) if torch.is_autocast_enabled(kind) else out

    def _pixel_windows(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) → the k×k pixels centred on each cell, (B, M, 3·k²), in [−1, 1]
        (edge pixels repeated past the border)."""
        pad = (self.pixel_view - self.stride) // 2
        padded = F.pad(images.float() * 2.0 - 1.0, (pad, pad, pad, pad), mode="replicate")
        windows = F.unfold(padded, self.pixel_view, stride=self.stride)  # (B, 3·k², M)
        return rearrange(windows, "b d m -> b m d")

    def corners(self, coords: torch.Tensor, grid: tuple[int, int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The four latents around each query on a grid of (rows, cols) latents (default G × G).

        coords (B, Q, 2) in [0, 1] → index (B, Q, 4) into the M latents, offset (B, Q, 4, 2) of the
        query from each latent's cell centre in cells, weight (B, Q, 4) bilinear, summing to 1.
        """
        rows, cols = grid or (self.side, self.side)
        size = torch.tensor([cols, rows], device=coords.device, dtype=torch.float32)
        p = coords.float() * size - 0.5  # in cells, latent centres at integers
        low = torch.floor(p)
        t = p - low  # (B, Q, 2) in [0, 1)
        idx, offsets, weights = [], [], []
        for dy in (0, 1):
            for dx in (0, 1):
                corner = torch.minimum((low + torch.tensor([dx, dy], device=p.device, dtype=p.dtype))
                                       .clamp_min(0), size - 1)
                idx.append(corner[..., 1] * cols + corner[..., 0])
                offsets.append(p - corner)
                wx = t[..., 0] if dx else 1.0 - t[..., 0]
                wy = t[..., 1] if dy else 1.0 - t[..., 1]
                weights.append(wx * wy)
        return (torch.stack(idx, -1).long(), torch.stack(offsets, -2), torch.stack(weights, -1))

    def forward(self, coords: torch.Tensor, cell: torch.Tensor, context,
                base: torch.Tensor | None = None) -> torch.Tensor:
        """coords (B, Q, 2); cell (B, Q, 2) output pixel size in [0, 1] units; context from
        ``prepare``; base (B, Q, 3) in [0, 1], the bicubic value at each query (with
        ``base_input``) → RGB (B, Q, 3), centred on 0.

        The corners and the query's inputs are found for all the queries at once; outside training
        the MLP then runs over blocks of ``BLOCK_ROWS`` (query, corner) rows, so that the hidden
        activations stay in the CPU's cache between layers instead of going out to memory and
        back (1.25× faster on a 1080p upscale, benchmarks/RESULTS.md), with only the MLP's few
        large ops per block."""
        context, grid = context
        rows, cols = grid or (self.side, self.side)
        index, offset, weight = self.corners(coords, (rows, cols))
        b, q, _ = index.shape
        m = context.shape[1]
        # one flat row per (image, query, corner): index_select on rows is a plain copy, where a
        # gather would first materialise an index as large as its output
        flat = (index + torch.arange(b, device=index.device).view(b, 1, 1) * m).reshape(-1)
        query = offset
        if self.cell_input:
            cells = cell * torch.tensor([cols, rows], device=cell.device, dtype=cell.dtype)  # in latent cells
            query = torch.cat([offset, cells.unsqueeze(-2).expand(-1, -1, 4, -1)], dim=-1)
        if self.base_input:  # continuous in the query, so the ensemble stays continuous
            query = torch.cat([query, (base * 2.0 - 1.0).unsqueeze(-2).expand(-1, -1, 4, -1)], dim=-1)
        query = query.reshape(b * q * 4, -1).to(context.dtype)
        weight = weight.reshape(b * q, 4)
        context = context.reshape(b * m, -1)
        query_weight = self.query_in.weight.to(context.dtype).t()  # (k, hidden), cast once
        if self.training:
            return self._mlp(context, flat, query, query_weight, weight).view(b, q, 3)
        step = max(4, self.BLOCK_ROWS // 4 * 4)  # whole queries: their 4 corners are 4 rows
        out = torch.empty(b * q, 3, device=coords.device)
        for r in range(0, b * q * 4, step):
            out[r // 4:(r + step) // 4] = self._mlp(context, flat[r:r + step], query[r:r + step],
                                                    query_weight, weight[r // 4:(r + step) // 4])
        return out.view(b, q, 3)

    def _mlp(self, context: torch.Tensor, flat: torch.Tensor, query: torch.Tensor,
             query_weight: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The read-out of N = 4n (query, corner) rows: context (B·M, hidden) from ``prepare``,
        flat (N,) rows of it, query (N, k) the query's inputs and query_weight (k, hidden) the
        transposed ``query_in`` weight, both in the context's dtype, weight (n, 4) the corners'
        bilinear weights → RGB (n, 3) in fp32, the corners' predictions blended."""
        gathered = context.index_select(0, flat)  # (N, hidden)
        # gathered + query_in(query) as one matmul that accumulates into the gathered rows
        h = torch.relu_(torch.addmm(gathered, query, query_weight))
        for layer in self.hidden:
            h = linear_relu(h, layer)  # one oneDNN call at inference (hinr.layers.fused)
        rgb = rearrange(self.to_rgb(h).float(), "(n c) k -> n c k", c=4)
        return torch.bmm(weight.unsqueeze(1), rgb).squeeze(1)  # Σ over the corners, weighted
