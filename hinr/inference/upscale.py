"""Inference: encode images into latents, render latents at any size, and upscale whole images of
any size (what ``hinr encode``, ``hinr render`` and ``hinr upscale`` call).

Rendering decodes blocks of at most ``chunk`` queries into a preallocated output on the CPU, so
memory is bounded by the chunk, not by the output size (a decoder with query self-attention cannot
be chunked and decodes each image or tile whole). ``precision`` ('fp32', 'bf16' or 'auto', see
``hinr.precision``) sets the decoder's arithmetic, and the encoder's on the whole-image path
(convolutional encoders only: bf16 there, channels-last, is 4× faster than fp32 on this CPU and
moved Set5/Set14 PSNR by at most 0.002 dB). The tiles' encoders (the Mamba scan) stay fp32.

``upscale_image`` sizes the input to the model (the model reads S×S images, S = 32):

- an S×S input is encoded once and rendered at the target size; for a residual model whose
  decoder is untrained this is exactly PIL's bicubic resize;
- a larger input is cut into overlapping S×S tiles (``hinr.inference.tiling``), each tile encoded and
  rendered at the target scale over its own footprint, and the tiles blended with smooth weights;
- a fully convolutional model (``config.whole_image``, e.g. ``liif``) encodes a larger input
  whole instead: one latent per input pixel, rendered straight at the target size. An input whose
  features would not fit in memory goes in cores of at most ``WHOLE_TILE``² input px, each encoded
  with a halo of the model's receptive radius around it, so every output pixel is decoded once and
  is the same as from the whole image;
- an input with a side under S is first enlarged with the PIL-exact bicubic so that its shorter side
  is S (aspect ratio kept), then treated as above: the model needs S×S of context, and enlarging
  adds no detail that bicubic would not, so nothing is lost by it. The target size always refers to
  the original input.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..coords import axis_centres, cell_size
from .ensemble import self_ensemble, transforms
from ..precision import autocast, resolve_precision
from .memory import WHOLE_TILE
from ..layers.bicubic import bicubic_grid
from ..models.hinr import HINR, Latents
from ..config import DEFAULT_CHUNK, DEFAULT_STRIDE
from ..models.render import decode_grid, grid_blocks, render_latents
from .tiling import DEFAULT_BLEND, plan_tiles

__all__ = ["DEFAULT_CHUNK", "encode_images", "render_latents", "upscale_image", "resize_bicubic"]
Progress = Callable[[int, int], None]  # called with (queries done, queries in all)


def resize_bicubic(image: torch.Tensor, height: int, width: int, *, chunk: int = 65536) -> torch.Tensor:
    """image (C, h, w) in [0, 1] → (C, height, width), PIL's bicubic kept in float.

    Enlarging uses the PIL-exact bicubic (``bicubic_grid``) (its first pass clipped like PIL's 8-bit one),
    ``chunk`` output pixels at a time. Reducing, whose antialiasing filter spans many pixels, uses
    Pillow's own separable resize on 32-bit float planes, which costs little at any size.
    """
    h, w = image.shape[-2:]
    if height < h or width < w:
        planes = [Image.fromarray(plane.detach().float().cpu().numpy(), mode="F")
                  .resize((width, height), Image.BICUBIC) for plane in image]
        return torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32) for p in planes])).clamp_(0.0, 1.0)
    ys, xs = axis_centres(height), axis_centres(width)
    cell = cell_size(height, width)
    out = torch.empty(image.shape[0], height, width)
    source = image.unsqueeze(0).float().cpu()
    for r0, r1, c0, c1 in grid_blocks(height, width, chunk):
        out[:, r0:r1, c0:c1] = bicubic_grid(source, xs[c0:c1], ys[r0:r1], cell)[0]
    return out.clamp_(0.0, 1.0)


def model_input(image: torch.Tensor, *, side: int) -> torch.Tensor:
    """image (3, h, w) → (3, side, side), as ``hinr encode`` stores it (bicubic, antialiased)."""
    if image.shape[-2:] == (side, side):
        return image.float()
    return resize_bicubic(image, side, side)


def enlarge_to_fit(image: torch.Tensor, *, side: int) -> torch.Tensor:
    """image (3, h, w) → at least ``side`` px on each side, shorter side exactly ``side``."""
    h, w = image.shape[-2:]
    if min(h, w) >= side:
        return image.float()
    factor = side / min(h, w)
    return resize_bicubic(image, max(side, round(h * factor)), max(side, round(w * factor)))


def encode_at(model: HINR, images: torch.Tensor, dtype: torch.dtype) -> Latents:
    """model.encode(images) at ``dtype`` (from ``resolve_precision``), tokens returned in fp32:
    the one place encoding precision is applied (convolutions: bf16 moves PSNR by ≤ 0.002 dB)."""
    with autocast(dtype, images.device):
        latents = model.encode(images)
    return Latents(latents.tokens.float(), latents.images)


@torch.no_grad()
def encode_images(model: HINR, images: torch.Tensor, *, batch_size: int = 16,
                  precision: str | torch.dtype = "auto", progress: Progress | None = None) -> Latents:
    """images (N, 3, S, S) in [0, 1] → Latents with tokens (N, M, D) and images (N, 3, S, S), on CPU.

    A convolutional (whole-image) encoder runs at ``precision``, as ``upscale_image`` runs it, so
    that encode + render gives upscale's pixels; the others stay fp32."""
    device = next(model.parameters()).device
    dtype = resolve_precision(precision, device) if model.config.whole_image else torch.float32
    tokens, n = [], len(images)
    for start in range(0, n, batch_size):
        batch = images[start:start + batch_size].to(device)
        tokens.append(encode_at(model, batch, dtype).tokens.cpu())
        if progress is not None:
            progress(min(start + batch_size, n), n)
    return Latents(torch.cat(tokens), images.float().cpu())


@torch.no_grad()
def upscale_image(model: HINR, image: torch.Tensor, size: tuple[int, int], *,
                  chunk: int = DEFAULT_CHUNK, batch_size: int = 16, stride: int = DEFAULT_STRIDE,
                  precision: str | torch.dtype = "fp32", ensemble: int = 1, whole: bool | None = None,
                  progress: Progress | None = None) -> torch.Tensor:
    """image (3, h, w) in [0, 1], any h × w → (3, H, W) in [0, 1] on the CPU, size = (H, W).

    See the module docstring for how inputs of each size are handled. ``batch_size`` tiles are
    encoded at once; ``stride`` is the tile stride in input pixels; ``ensemble`` (1, 2, 4 or 8)
    averages that many flipped/rotated passes (``hinr.inference.ensemble``); ``whole`` (default: where the
    model allows) encodes the whole input at once instead of in S×S tiles. The CLI keeps these
    settings as one ``RenderOptions`` and passes ``**options.kwargs()``.
    """
    precision = resolve_precision(precision, next(model.parameters()).device)  # once, here
    if whole is None:
        whole = model.config.whole_image
    elif whole and not model.config.whole_image:
        raise ValueError(f"a {model.config.arch} model encodes {model.config.image_size}-px tiles only")
    out_h, out_w = size
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be positive, got {out_w}x{out_h}")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"upscale_image takes (3, H, W) images, got {tuple(image.shape)}")
    passes = transforms(ensemble)
    once = _upscale_whole if whole else _upscale_once

    def one_pass(turned: torch.Tensor, symmetry) -> torch.Tensor:
        index = passes.index(symmetry)
        step = None if progress is None else (
            lambda done, total: progress(index * total + done, len(passes) * total))
        return once(model, turned, symmetry.size(out_h, out_w), chunk=chunk, batch_size=batch_size,
                    stride=stride, precision=precision, progress=step)

    return self_ensemble(one_pass, image, ensemble)


def _upscale_once(model: HINR, image: torch.Tensor, size: tuple[int, int], *, chunk: int,
                  batch_size: int, stride: int, precision: torch.dtype,
                  progress: Progress | None) -> torch.Tensor:
    out_h, out_w = size
    side = model.config.image_size
    device = next(model.parameters()).device
    image = enlarge_to_fit(image.float(), side=side)
    plan = plan_tiles(image.shape[1], image.shape[2], out_h, out_w, tile=side, stride=stride,
                      blend=DEFAULT_BLEND)
    cell = plan.cell()
    out = torch.zeros(3, out_h, out_w)
    done, total = 0, plan.queries
    # tiles whose output pixels sit at the same tile-local coordinates decode as one batch
    groups: dict[tuple, list] = {}
    for y, x in plan:
        groups.setdefault((y.local.numpy().tobytes(), x.local.numpy().tobytes()), []).append((y, x))
    for tiles in groups.values():
        for start in range(0, len(tiles), batch_size):
            batch = tiles[start:start + batch_size]
            crops = torch.stack([plan.crop(image, y, x) for y, x in batch])
            latents = model.encode(crops.to(device))
            y0, x0 = batch[0]
            for r0, r1, c0, c1, rgb in decode_grid(model, latents, x0.local, y0.local, cell,
                                                   chunk=max(1, chunk // len(batch)),
                                                   precision=precision):
                rgb = rgb.cpu()
                for i, (y, x) in enumerate(batch):
                    weight = y.weight[r0:r1, None] * x.weight[None, c0:c1]
                    out[:, y.start + r0:y.start + r1, x.start + c0:x.start + c1] += rgb[i] * weight
                done += (r1 - r0) * (c1 - c0) * len(batch)
                if progress is not None:
                    progress(done, total)
    return out.clamp_(0.0, 1.0)


def _cores(length: int, out: int, *, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Split one axis of ``length`` input px (rendered at ``out``) into cores of at most ``tile``
    px: (first output px, stop, first input px encoded, stop), the encoded span being the core
    plus ``halo`` px each side (clamped to the image). Output pixel j belongs to the core holding
    its centre (j + ½)·length/out."""
    count = max(1, -(-length // tile))
    bounds = [i * length // count for i in range(count + 1)]

    def first_pixel(c: int) -> int:  # smallest j with (2j + 1)·length ≥ 2·c·out
        return max(0, -(-(2 * c * out - length) // (2 * length)))

    spans = []
    for c0, c1 in zip(bounds, bounds[1:]):
        j0, j1 = first_pixel(c0), (out if c1 == length else first_pixel(c1))
        if j1 > j0:
            spans.append((j0, j1, max(0, c0 - halo), min(length, c1 + halo)))
    return spans


def _upscale_whole(model: HINR, image: torch.Tensor, size: tuple[int, int], *, chunk: int,
                   batch_size: int, stride: int, precision: torch.dtype,
                   progress: Progress | None) -> torch.Tensor:
    """The whole-image path (module docstring): image (3, h, w) → (3, H, W)."""
    del batch_size, stride  # tiles of the S×S path only
    out_h, out_w = size
    image = enlarge_to_fit(image.float(), side=model.config.image_size)
    h, w = image.shape[-2:]
    device = next(model.parameters()).device
    halo = model.config.receptive_radius
    out = torch.zeros(3, out_h, out_w)
    done, total = 0, out_h * out_w
    for jy0, jy1, py0, py1 in _cores(h, out_h, tile=WHOLE_TILE, halo=halo):
        ys = ((torch.arange(jy0, jy1, dtype=torch.float64) + 0.5) * (h / out_h) - py0) / (py1 - py0)
        for jx0, jx1, px0, px1 in _cores(w, out_w, tile=WHOLE_TILE, halo=halo):
            xs = ((torch.arange(jx0, jx1, dtype=torch.float64) + 0.5) * (w / out_w) - px0) / (px1 - px0)
            cell = torch.tensor([w / out_w / (px1 - px0), h / out_h / (py1 - py0)])
            latents = encode_at(model, image[None, :, py0:py1, px0:px1].to(device), precision)
            for r0, r1, c0, c1, rgb in decode_grid(model, latents, xs.float(), ys.float(), cell,
                                                   chunk=chunk, precision=precision):
                out[:, jy0 + r0:jy0 + r1, jx0 + c0:jx0 + c1] = rgb[0].cpu()
                done += (r1 - r0) * (c1 - c0)
                if progress is not None:
                    progress(done, total)
    return out.clamp_(0.0, 1.0)
