"""The README's magnified ×8 crops: bicubic | each model | ground truth, side by side, so a grid
pattern or ringing that PSNR does not see is visible.

    python benchmarks/figure_zoom.py --photos examples/val_photos --weights hybrid --weights default \
        --label "hinr hybrid (earlier default)" --label "hinr default (liif)"

For each chosen val photo: its centre square reduced to 32×32 (the input) and to 256×256 (the
ground truth), the input upscaled ×8 by each method, a 64×64 crop of each magnified ×4 (nearest).
With ``--jpeg Q`` the input is JPEG-compressed first (the ground truth stays clean):

    python benchmarks/figure_zoom.py --photos examples/val_photos --jpeg 75 --weights default \
        --weights jpeg --label "hinr default" --label "hinr jpeg" --out examples/zoom_x8_jpeg75.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from hinr.store.checkpoint import load_model
    from hinr.data.degrade import jpeg
    from hinr.data.folder import image_to_tensor, load_rgb, select_images
    from hinr.data.sr import make_eval_pair
    from hinr.io.images import to_pil

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", action="append", default=None, help="repeatable; default: shipped")
    parser.add_argument("--label", action="append", default=None, help="one per --weights")
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "photos"))
    parser.add_argument("--names", default="skimage_motorcycle_left.jpg,opencv_baboon.jpg")
    parser.add_argument("--crop", type=int, nargs=2, default=(96, 96), help="top-left (x, y) in the ×8 image")
    parser.add_argument("--jpeg", type=int, default=None, metavar="Q",
                        help="JPEG-compress the 32×32 input at quality Q first (as hinr eval --jpeg)")
    parser.add_argument("--out", default="examples/zoom_x8.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    specs = args.weights or [None]
    labels = args.label or [f"hinr {i}" for i in range(len(specs))]
    models = [load_model(s).eval() for s in specs]
    names = args.names.split(",")
    paths = {p.name: p for p in select_images(Path(args.photos), split="val")}
    x0, y0 = args.crop
    panel, pad, header = 256, 6, 20
    columns = ["bicubic", *labels, "ground truth"]
    canvas = Image.new("RGB", (pad + len(columns) * (panel + pad), header + len(names) * (panel + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(columns):
        draw.text((pad + c * (panel + pad), 4), label, fill="black")
    for r, name in enumerate(names):
        low, high = make_eval_pair(load_rgb(paths[name]), 8)
        if args.jpeg is not None:
            low = image_to_tensor(jpeg(to_pil(low), args.jpeg))
        low_pil = to_pil(low)
        cells = [low_pil.resize((256, 256), Image.BICUBIC)]
        for model in models:
            with torch.no_grad():
                out = model.render(model.encode(low.unsqueeze(0)), 256, 256, precision="auto")[0]
            cells.append(to_pil(out))
        cells.append(to_pil(high))
        for c, cell in enumerate(cells):
            crop = cell.crop((x0, y0, x0 + 64, y0 + 64)).resize((panel, panel), Image.NEAREST)
            canvas.paste(crop, (pad + c * (panel + pad), header + r * (panel + pad)))
    canvas.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
