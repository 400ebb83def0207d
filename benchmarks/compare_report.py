"""The scoring half of ``compare_archs.py``: evaluate each run's kept checkpoint on the ``val``
photos, pair the runs per image against the first one (bootstrap 95 % intervals), and plot the
held-out PSNR each run reached against its training time.

Writes ``OUT/compare.md`` (the table), ``OUT/compare.json`` (everything) and
``OUT/compare.png`` (the plot).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
COLOURS = [(200, 40, 40), (40, 90, 200), (30, 150, 60), (150, 60, 170), (200, 130, 20)]


def bootstrap(diffs: list[float], *, rounds: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean of ``diffs`` (resampled images)."""
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choice(diffs) for _ in range(n)) / n for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def render_speed(model, *, side: int = 256, repeats: int = 2) -> float:
    """Output Mpixel/s of rendering one 32×32 input at side² (bf16 where native)."""
    from hinr.models.render import render_latents

    latents = model.encode(torch.rand(1, 3, 32, 32))
    render_latents(model, latents, 64, 64, precision="auto")
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        render_latents(model, latents, side, side, precision="auto")
        best = min(best, time.perf_counter() - start)
    return side * side / best / 1e6


def plot(runs: list[dict], path: Path) -> None:
    img = Image.new("RGB", (760, 470), "white")
    draw = ImageDraw.Draw(img)
    box = (60, 30, 740, 400)
    points = [(r["name"], [(p["minutes"], p["val_psnr"]) for p in r["timeline"]]) for r in runs]
    xs = [x for _, pts in points for x, _ in pts]
    ys = [y for _, pts in points for _, y in pts]
    bicubic = runs[0]["timeline"][0].get("val_bicubic_psnr")
    if bicubic is not None:
        ys.append(bicubic)
    lo, hi = max(min(ys), (bicubic or min(ys)) - 3.0), max(ys) + 0.1
    sx = (box[2] - box[0]) / max(1e-9, max(xs))
    sy = (box[3] - box[1]) / max(1e-9, hi - lo)

    def at(x: float, y: float) -> tuple[float, float]:
        return box[0] + x * sx, box[3] - (min(max(y, lo), hi) - lo) * sy

    draw.rectangle(box, outline=(160, 160, 160))
    tick = lo - lo % 0.5 + 0.5
    while tick < hi:  # y ticks every 0.5 dB, x ticks every 10 minutes
        draw.line([at(0, tick), (box[0] - 5, at(0, tick)[1])], fill=(0, 0, 0))
        draw.text((box[0] - 45, at(0, tick)[1] - 6), f"{tick:.1f}", fill=(0, 0, 0))
        tick += 0.5
    for minute in range(0, int(max(xs)) + 1, 10):
        x = at(minute, lo)[0]
        draw.line([(x, box[3]), (x, box[3] + 5)], fill=(0, 0, 0))
        draw.text((x - 6, box[3] + 6), str(minute), fill=(0, 0, 0))
    if bicubic is not None:
        draw.line([at(0, bicubic), at(max(xs), bicubic)], fill=(120, 120, 120), width=1)
        draw.text((box[0] + 4, at(0, bicubic)[1] - 14), f"bicubic {bicubic:.2f}", fill=(90, 90, 90))
    for i, (name, pts) in enumerate(points):
        colour = COLOURS[i % len(COLOURS)]
        if len(pts) > 1:
            draw.line([at(x, y) for x, y in pts], fill=colour, width=2)
        draw.text((box[0] + 8 + 150 * i, 8), name, fill=colour)
    draw.text((box[0], box[3] + 22), "wall-clock training minutes (one thread each, on a shared "
              "2-core CPU)", fill=(0, 0, 0))
    draw.text((box[0], box[3] + 38), "PSNR dB on crops of the photos held out from train (values "
              "below the axis drawn at its edge)", fill=(0, 0, 0))
    img.save(path)


def report(args) -> None:
    from hinr.evaluation import evaluate
    from hinr.store.checkpoint import load_model
    from hinr.data.folder import select_images

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos = ROOT / "examples" / "val_photos"
    scales = [2, 4, 8]
    samples = evaluate.photo_samples(select_images(photos, split="val"), scales, root=photos)
    runs = []
    for folder in map(Path, args.runs):
        summary = json.loads((folder / "summary.json").read_text())
        timeline = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
        cache = folder / "val_eval.json"  # scored once per kept checkpoint
        if cache.is_file() and cache.stat().st_mtime > (folder / "model.safetensors").stat().st_mtime:
            scored = json.loads(cache.read_text())
        else:
            model = load_model(folder / "model.safetensors")
            em = evaluate.EvalModel(folder.name, model.eval(), str(folder))
            result = evaluate.evaluate(samples, [em], scales, data=str(photos), split="val",
                                       precision="auto")
            r = result.methods[-1]
            bic = next(m for m in result.methods if m.name == "bicubic")
            scored = {"psnr": {k: r.psnr[k] for k in scales}, "ssim": {k: r.ssim[k] for k in scales},
                      "bicubic": {k: bic.psnr[k] for k in scales},
                      "latent_gain": {k: r.latent_gain(k) for k in scales},
                      "grid": {k: r.grid_score(k) for k in scales},
                      "render_mpix_s": render_speed(model)}
            cache.write_text(json.dumps(scored))
        scored = {key: ({int(k): v for k, v in value.items()} if isinstance(value, dict) else value)
                  for key, value in scored.items()}
        runs.append({"name": folder.name, "summary": summary, "timeline": timeline, **scored})
    lines = ["| run | params | steps | CPU min | ×2 PSNR / SSIM | ×4 PSNR / SSIM | ×8 PSNR / SSIM "
             "| ×4 latent gain | ×8 grid | render Mpix/s |", "|" + "---|" * 10]
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    first = runs[0]
    for r in runs:
        s = r["summary"]
        cells = [f"{mean(r['psnr'][k]):.2f} / {mean(r['ssim'][k]):.4f}" for k in scales]
        cpu = f"{s['cpu_seconds'] / 60:.0f}" if "cpu_seconds" in s else "—"
        lines.append(f"| {r['name']} | {s['params'] / 1e6:.2f} M | {s['steps']} | {cpu} | "
                     + " | ".join(cells)
                     + f" | {r['latent_gain'][4]:+.2f} | {r['grid'][8]:.2f} | {r['render_mpix_s']:.3f} |")
    bic = first["bicubic"]
    lines.append("| bicubic | — | — | — | " + " | ".join(f"{mean(bic[k]):.2f}" for k in scales)
                 + " | — | — | — |")
    paired = ["", f"Paired per-image PSNR difference against {first['name']} (mean, bootstrap 95 % "
              "interval over the val photos):", "", "| run | ×2 | ×4 | ×8 |", "|---|---|---|---|"]
    for r in runs[1:]:
        cells = []
        for k in scales:
            diffs = [a - b for a, b in zip(r["psnr"][k], first["psnr"][k])]
            lo, hi = bootstrap(diffs)
            cells.append(f"{mean(diffs):+.2f} [{lo:+.2f}, {hi:+.2f}]")
        paired.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    text = "\n".join(lines + paired) + "\n"
    (out / "compare.md").write_text(text)
    (out / "compare.json").write_text(json.dumps(runs, indent=1, default=str))
    plot(runs, out / "compare.png")
    print(text)
