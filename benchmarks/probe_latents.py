"""Do an encoder's latents carry the picture, and where? For each checkpoint, over the 32×32
inputs of `select` crops (`hinr eval --crops 8`'s, the first crop of each photo):

- ``image_share``: the latents' spread across images over their spread across token positions
  (mean per-channel standard deviations). Near 0: the latents are nearly the same for every image,
  so the decoder has nothing but the bicubic base to draw from.
- ``far_over_near``: for latents on a square grid, how much the latents far from a changed 4×4
  input corner move, over how much the latents at that corner move (0: strictly local; near 1:
  every latent sees the whole picture alike, and a local read-out finds no local detail in them).
- ``residual_rms``: RMS of the ×4 render minus the bicubic base the models add to (PIL's bicubic,
  in float) of the same input (0: the render is bicubic).

    OMP_NUM_THREADS=1 python benchmarks/probe_latents.py long_runs/pilot-scent default   # ~5 s a model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from einops import rearrange

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import machine, parse_args  # noqa: E402


def inputs(photos: Path) -> torch.Tensor:
    """One 32×32 input per `select` photo → (N, 3, 32, 32) in [0, 1]."""
    from hinr.data.folder import image_to_tensor, select_images
    from hinr.evaluation.evaluate import photo_samples

    samples = photo_samples(select_images(photos, split="select"), [4], root=photos, crops=1)
    return torch.stack([image_to_tensor(s.low) for s in samples])


def probe(model, images: torch.Tensor) -> dict[str, float | None]:
    """images (N, 3, 32, 32) → the three figures of this module's docstring."""
    from hinr.inference.upscale import resize_bicubic

    with torch.inference_mode():
        latents = model.encode(images)
        tokens = latents.tokens  # (N, M, D)
        share = tokens.std(0).mean() / tokens.std(1).mean()
        changed = images.clone()
        changed[..., :4, :4] = 1 - changed[..., :4, :4]
        moved = (model.encode(changed).tokens - tokens).pow(2).mean(-1).sqrt().mean(0)  # (M,)
        side = round(moved.numel() ** 0.5)
        far_over_near = None
        if side * side == moved.numel() and side >= 8:
            grid = rearrange(moved, "(h w) -> h w", h=side)
            edge = max(1, side // 16)  # the latents over the changed corner
            far_over_near = float(grid[side // 2:, side // 2:].mean() / grid[:edge, :edge].mean())
        render = model.render(latents, 128, 128).clamp(0, 1)
        base = torch.stack([resize_bicubic(image, 128, 128) for image in images])
        residual = (render - base).pow(2).mean().sqrt()
    return {"image_share": float(share), "far_over_near": far_over_near, "residual_rms": float(residual)}


def main() -> None:
    from hinr.store.checkpoint import load_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="checkpoints or shipped names")
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    args = parse_args(parser)
    images = inputs(args.photos)
    print(machine("cpu"))
    print(f"{len(images)} `select` inputs, 32×32, ×4 renders\n")
    print("| weights | image_share | far_over_near | residual_rms |\n|---|---:|---:|---:|")
    for weights in args.weights:
        figures = probe(load_model(weights).eval(), images)
        far = "—" if figures["far_over_near"] is None else f"{figures['far_over_near']:.4f}"
        print(f"| {weights} | {figures['image_share']:.3f} | {far} | {figures['residual_rms']:.4f} |")


if __name__ == "__main__":
    main()
