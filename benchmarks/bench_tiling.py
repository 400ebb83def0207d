"""Whole-photo upscaling with tiles: PSNR against bicubic and time, per tile stride and precision.

A script run by hand, not a test. ``hinr eval`` scores 32×32 inputs, where the model reads the
whole image at once; this measures what ``hinr upscale`` does to a real photo larger than 32×32,
cut into overlapping 32×32 tiles (``hinr.inference.tiling``). For each photo of a folder's split (default:
the val split of ../shared/photos), the ground truth is the photo reduced (PIL bicubic,
antialiased) so its long side is ``--hr-side``; the input is that reduced ``--scale`` times more.
Each configuration upscales every input back to the ground truth's size through
``hinr.inference.upscale.upscale_image``, with the shipped weights (or ``--weights``); PSNR is on RGB after
rounding to 8 bits, bicubic and Lanczos (PIL) are the baselines. ``--jpeg Q`` saves each input as
a JPEG at quality Q first (4:2:0, as Pillow, phones and the web do), as a JPEG file users upscale.

    OMP_NUM_THREADS=2 python benchmarks/bench_tiling.py
    OMP_NUM_THREADS=2 python benchmarks/bench_tiling.py --strides 8 16 24 --precisions fp32 bf16
    python benchmarks/bench_tiling.py --quick        # seconds: a smoke run on two photos
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, parse_args  # noqa: E402


def pairs(folder: Path, split: str, hr_side: int, scale: int, limit: int | None,
          jpeg_quality: int | None = None):
    """(name, low PIL, target PIL) for each photo: target long side hr_side, low = target / scale
    (through JPEG at ``jpeg_quality`` when given)."""
    from PIL import Image

    from hinr.data.degrade import jpeg
    from hinr.data.folder import load_rgb, select_images

    out = []
    for path in select_images(folder, split=split)[:limit]:
        photo = load_rgb(path)
        factor = hr_side / max(photo.size)
        w, h = round(photo.width * factor) // scale * scale, round(photo.height * factor) // scale * scale
        target = photo.resize((w, h), Image.BICUBIC)
        low = target.resize((w // scale, h // scale), Image.BICUBIC)
        out.append((path.name, low if jpeg_quality is None else jpeg(low, jpeg_quality), target))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", default=None, help="default: the shipped model")
    parser.add_argument("--hr-side", type=int, default=512, help="long side of the ground truth")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--strides", nargs="+", type=int, default=[8, 16, 24])
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--limit", type=int, default=None, help="at most N photos")
    parser.add_argument("--jpeg", type=int, default=None, metavar="Q", help="inputs through JPEG at quality Q")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 photos, 128 px, stride 16")
    args = parse_args(parser)

    from PIL import Image

    from hinr.store.checkpoint import load_model
    from hinr.data.folder import image_to_tensor
    from hinr.io.images import to_pil
    from hinr.evaluation.metrics import psnr
    from hinr.inference.upscale import upscale_image
    from hinr.store.shipped import resolve_weights

    if args.quick:
        args.limit, args.hr_side, args.strides, args.precisions = 2, 128, [16], ["fp32"]
    model = load_model(resolve_weights(args.weights)).eval()
    samples = pairs(args.data, args.split, args.hr_side, args.scale, args.limit, args.jpeg)
    if not samples:
        parser.error(f"no photos in {args.data} (split {args.split})")

    def score(outputs) -> float:
        return statistics.mean(psnr(image_to_tensor(o), image_to_tensor(t)).item()
                               for o, (_, _, t) in zip(outputs, samples))

    rows = []
    for name, filt in (("bicubic", Image.BICUBIC), ("lanczos", Image.LANCZOS)):
        start = time.perf_counter()
        outs = [low.resize(target.size, filt) for _, low, target in samples]
        rows.append((name, score(outs), time.perf_counter() - start, 0))
    upscale_image(model, image_to_tensor(samples[0][1]), (64, 64))  # warm-up
    for stride in args.strides:
        for precision in args.precisions:
            start = time.perf_counter()
            outs = []
            for _, low, target in samples:
                rgb = upscale_image(model, image_to_tensor(low), (target.height, target.width),
                                    stride=stride, precision=precision)
                outs.append(to_pil(rgb))
            seconds = time.perf_counter() - start
            rows.append((f"hinr stride {stride} {precision}", score(outs), seconds, stride))
            print(f"  stride {stride} {precision}: {seconds:.1f} s", file=sys.stderr, flush=True)

    print(machine("cpu"))
    low_sizes = sorted({low.size for _, low, _ in samples})
    print(f"{len(samples)} photos of {args.data.name}/{args.split}: ground truth long side "
          f"{args.hr_side}, input ×{args.scale} smaller ({low_sizes[0][0]}×{low_sizes[0][1]} …"
          f"{'' if args.jpeg is None else f', JPEG quality {args.jpeg}'}); weights {args.weights or 'shipped'}")
    print()
    bicubic = rows[0][1]
    print(f"{'method':<26}{'PSNR dB':>9}{'vs bicubic':>12}{'seconds':>9}{'s/photo':>9}")
    for name, value, seconds, _ in rows:
        print(f"{name:<26}{value:>9.3f}{value - bicubic:>+12.3f}{seconds:>9.2f}"
              f"{seconds / len(samples):>9.2f}")


if __name__ == "__main__":
    main()
