"""Which weights serve a lossy input better: ×k PSNR of each model on inputs saved as JPEG (per
chroma subsampling) or lossy WebP at a range of qualities — the measurements behind
``hinr.store.shipped.JPEG_WEIGHTS_BELOW`` and the WebP rule (weights/README.md, "Which inputs get it").

A script run by hand, not a test. Choose rules on photos held out from training, never on val:

    python benchmarks/bench_lossy_inputs.py --data HELD_OUT --crops 8 --scale 4 \
        --codecs jpeg-4:2:0 jpeg-4:2:2 jpeg-4:4:4 webp --qualities 75 85 90 95 100

For each photo of the folder's split: ``--crops`` square crops of 32·scale px (``hinr eval
--crops``; ``--crop-scale 8`` cuts 256 px ones, denser in detail at 32×32), the 32×32 input their
PIL bicubic reduction, saved by Pillow with each codec and quality and decoded again;
the ground truth stays clean. The best score of each row is marked with *.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import machine, parse_args  # noqa: E402


def round_trip(image, codec: str, quality: int):
    """``image`` saved with ``codec`` ('jpeg-4:2:0' / '-4:2:2' / '-4:4:4' or 'webp') and decoded;
    JPEG through the training degradation's own round trip (``hinr.data.degrade.jpeg``)."""
    from PIL import Image

    from hinr.io.coding import subsampling_code
    from hinr.data.degrade import jpeg

    if codec != "webp":
        return jpeg(image, quality, subsampling_code(codec.removeprefix("jpeg-"), option="--codecs"))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="WEBP", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a photo folder (held out from training)")
    parser.add_argument("--split", default="val", help="its MANIFEST.tsv split (default val)")
    parser.add_argument("--crops", type=int, default=8)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--crop-scale", type=int, default=None,
                        help="crops of 32·N px (default N = --scale), as hinr eval cuts them for its "
                             "largest scale: the ×scale target is then a reduction of the crop")
    parser.add_argument("--weights", nargs="+", default=["default", "jpeg"])
    parser.add_argument("--codecs", nargs="+", default=["jpeg-4:2:0", "jpeg-4:2:2", "jpeg-4:4:4", "webp"])
    parser.add_argument("--qualities", nargs="+", type=int, default=[75, 90, 95, 100])
    parser.add_argument("--limit", type=int, default=None, help="at most N photos")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 photos, 1 crop, q75, jpeg-4:2:0 and webp")
    args = parse_args(parser)
    if args.quick:
        args.limit, args.crops, args.qualities, args.codecs = 2, 1, [75], ["jpeg-4:2:0", "webp"]
    for codec in args.codecs:
        if codec != "webp" and not codec.startswith("jpeg-"):
            parser.error(f"--codecs: {codec!r} is not webp or jpeg-4:2:0 / jpeg-4:2:2 / jpeg-4:4:4")

    from hinr.evaluation import evaluate
    from hinr.data.folder import select_images

    paths = select_images(args.data, split=args.split)[:args.limit]
    if not paths:
        parser.error(f"no photos in {args.data} (split {args.split})")
    scales = sorted({args.scale, args.crop_scale or args.scale})
    samples = evaluate.photo_samples(paths, scales, root=args.data, crops=args.crops)
    models = evaluate.load_models(args.weights)
    names = ["bicubic"] + [m.label for m in models]
    print(machine("cpu"))
    print(f"{len(samples)} crops of {args.data.name}/{args.split}, ×{args.scale} PSNR (dB)\n")
    print(f"| codec | quality | {' | '.join(names)} |")
    print("|---|---:|" + "---:|" * len(names))
    for codec in args.codecs:
        for quality in args.qualities:
            lossy = [evaluate.EvalSample(s.name, round_trip(s.low, codec, quality), s.targets, s.crop)
                     for s in samples]
            result = evaluate.evaluate(lossy, models, [args.scale], precision="auto", latent_gain=False)
            scores = {m.name: m.mean_psnr(args.scale) for m in result.methods}
            best = max(scores[name] for name in names[1:])
            cells = [f"{scores[n]:.2f}" + ("*" if n != "bicubic" and scores[n] == best else "")
                     for n in names]
            print(f"| {codec} | {quality} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
