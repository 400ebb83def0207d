"""What each named part of a trained hybrid-v2 contributes: the model scored with one part knocked
out at a time, paired per image against the whole model, with a bootstrap 95 % interval.

    python benchmarks/ablate.py --weights long_runs/hybrid-v2-e64x8 --out benchmarks/ablate

Knock-outs (no retraining, so each says what the part does inside this trained model):
- ``no-global``: the global path's gate set to 0 (the local read-out alone);
- ``no-processor``: the SCENT processor replaced by its final norm alone (the LP latents go to the
  global decoder straight from BiMamba);
- ``no-bimamba``: the scan's contribution to the local map removed and the global path closed
  (the convolutional stem and the local read-out alone).

Scored on Set5 + Set14 (luma PSNR, scale px shaved, ``hinr eval --benchmark``'s protocol: report
only, never choose on them) and on the photos held out from ``train`` (RGB PSNR of 8 crops each,
as ``hinr eval --crops 8``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare_report import bootstrap  # noqa: E402


def knock_out(model, part: str):
    """A copy of the hybrid-v2 ``model`` with ``part`` knocked out (see the module docstring)."""
    import torch
    from torch import nn

    model = copy.deepcopy(model).eval()
    encoder, decoder = model.encoder, model.decoder
    with torch.no_grad():
        if part == "no-global":
            decoder.global_gate.zero_()
        elif part == "no-processor":
            encoder.processor.blocks = nn.ModuleList()
        elif part == "no-bimamba":
            encoder.from_tokens.weight.zero_()
            encoder.from_tokens.bias.zero_()
            decoder.global_gate.zero_()
        elif part != "full":
            raise ValueError(f"unknown part {part!r}")
    return model


def heldout_scores(model, photos: Path, scale: int) -> dict[str, float]:
    """RGB PSNR per crop of the photos held out from ``train`` (as the trainer holds them out)."""
    import torch

    from hinr.data.folder import select_images
    from hinr.evaluation.evaluate import photo_samples
    from hinr.evaluation.metrics import psnr
    from hinr.data.folder import image_to_tensor
    from hinr.train.samples import split_files

    _, held = split_files(select_images(photos, split="train"), 0.1)
    samples = photo_samples(held, [scale], root=photos, crops=8)
    scores = {}
    for s in samples:
        low = image_to_tensor(s.low).unsqueeze(0)
        target = image_to_tensor(s.targets[scale]).unsqueeze(0)
        with torch.inference_mode():
            out = model.render(model.encode(low), *target.shape[-2:])
        scores[s.name] = float(psnr((out.clamp(0, 1) * 255).round() / 255, target)[0])
    return scores


def benchmark_scores(model, root: Path, scale: int, sets: list[str]) -> dict[str, float]:
    from hinr.evaluation import standard_sets
    from hinr.inference.upscale import upscale_image

    pairs = [p for p in standard_sets.find_pairs(root, [scale]) if p.set in sets]
    result = standard_sets.run_benchmark(pairs, {"m": lambda lr, size: upscale_image(model, lr, size)})
    return {f"{s}/{n}": v for (s, k, m), sc in result.scores.items() if m == "m"
            for n, v in zip(sc.names, sc.psnr)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--benchmark", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    parser.add_argument("--parts", nargs="+", default=["no-global", "no-processor", "no-bimamba"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import hinr

    model = hinr.load_model(args.weights).eval()
    if model.config.arch != "hybrid-v2":
        raise SystemExit(f"{args.weights} is a {model.config.arch} model: the knock-outs are hybrid-v2's")
    rows, data = [], {}
    for where, score in (("benchmark", lambda m: benchmark_scores(m, args.benchmark, args.scale, args.sets)),
                         ("held-out", lambda m: heldout_scores(m, args.photos, args.scale))):
        full = score(model)
        data[where] = {"full": full}
        for part in args.parts:
            scores = score(knock_out(model, part))
            data[where][part] = scores
            diffs = [scores[k] - full[k] for k in full]
            low, high = bootstrap(diffs)
            rows.append(f"| {where} ×{args.scale} | {part} | {sum(diffs) / len(diffs):+.3f} | "
                        f"[{low:+.3f}, {high:+.3f}] | {len(diffs)} |")
    table = ("| images | knocked out | mean ΔPSNR (dB) | bootstrap 95 % | n |\n|---|---|---:|---:|---:|\n"
             + "\n".join(rows) + "\n")
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ablate.md").write_text(table)
        (args.out / "ablate.json").write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
