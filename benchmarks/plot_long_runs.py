"""One plot of the long runs' held-out PSNR curves (the models issue): PSNR against CPU minutes
and against steps, every run of ``long_runs/`` in one figure, plus the same points as a markdown
table. CPU minutes at a validation come from the run's ``cpu.jsonl`` (logged at each checkpoint,
which is every validation in the recipes).

    python benchmarks/plot_long_runs.py                       # → benchmarks/long_runs.png + .md
    python benchmarks/plot_long_runs.py --reference 30.93     # a dashed line: the previous default
    python benchmarks/plot_long_runs.py long-v3uc-stem8 long-liif --out benchmarks/long_runs_photos.png
    python benchmarks/plot_long_runs.py long-v3uc-stem8 long-liif long-v3uc-stem8-more long-liif-more \
        --out benchmarks/long_runs_photos.png     # the warm restarts drawn on from their runs' ends
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from long_run import CONTINUATIONS, RUNS, read_jsonl  # noqa: E402  (benchmarks/ is the script's folder)

COLOURS = [(40, 90, 200), (200, 60, 40), (40, 150, 60), (140, 60, 170)]


def precisions(run: Path) -> dict[int, str]:
    """step → the precision the 1,000 steps up to it trained in ('bf16' where not logged: every
    checkpoint before session 8; an AVX2-only CPU continues in fp32, and a CPU minute there is
    worth about a fifth of one on the bf16 CPU, see long_run.py)."""
    step0, _ = start(run)
    return {step0 + r["step"]: r.get("precision", "bf16") for r in read_jsonl(run / "cpu.jsonl")}


def start(run: Path) -> tuple[int, float]:
    """(steps, CPU minutes) the run starts from: a continuation (``CONTINUATIONS``) goes on from
    where the run it continues ended, so its curve extends that run's; any other run from (0, 0)."""
    if run.name not in CONTINUATIONS:
        return 0, 0.0
    last = read_jsonl(run.parent / CONTINUATIONS[run.name][0] / "cpu.jsonl")[-1]
    return last["step"], last["cpu_s"] / 60


def curve(run: Path) -> list[tuple[int, float, float]]:
    """(step, CPU minutes, held-out PSNR) at every validation whose CPU time was logged, counted
    from the start of the run it continues, if any (``start``)."""
    step0, minutes0 = start(run)
    cpu = {r["step"]: r["cpu_s"] / 60 for r in read_jsonl(run / "cpu.jsonl")}
    best: dict[int, float] = {}
    for r in read_jsonl(run / "metrics.jsonl"):
        if "val_psnr" in r and r["step"] in cpu:
            best[r["step"]] = r["val_psnr"]  # a resumed run logs a step again: the last one counts
    return [(step0 + s, minutes0 + cpu[s], p) for s, p in sorted(best.items())]


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], series: dict[str, list],
           axis: int, xlabel: str, reference: float | None, label: str = "reference") -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=(160, 160, 160))
    pts = [(p[axis], p[2]) for s in series.values() for p in s]
    if not pts:
        draw.text((x0 + 8, y0 + 8), "no validations logged yet", fill=(0, 0, 0))
        return
    ys = [y for _, y in pts] + ([reference] if reference is not None else [])
    lo, hi = min(ys) - 0.05, max(ys) + 0.05
    xmax = max(x for x, _ in pts) or 1.0
    ox, oy, w, h = x0 + 50, y1 - 30, x1 - x0 - 70, y1 - y0 - 60

    def at(x: float, y: float) -> tuple[float, float]:
        return ox + x / xmax * w, oy - (y - lo) / (hi - lo) * h

    for k in range(5):  # y grid with labels
        y = lo + (hi - lo) * k / 4
        _, py = at(0, y)
        draw.line([(ox, py), (ox + w, py)], fill=(230, 230, 230))
        draw.text((x0 + 4, py - 6), f"{y:.2f}", fill=(80, 80, 80))
    draw.text((ox, oy + 8), "0", fill=(80, 80, 80))
    draw.text((ox + w - 60, oy + 8), f"{xmax:.0f} {xlabel}", fill=(80, 80, 80))
    if reference is not None:
        _, py = at(0, reference)
        for sx in range(int(ox), int(ox + w), 12):
            draw.line([(sx, py), (sx + 6, py)], fill=(120, 120, 120))
        draw.text((ox + 4, py - 13), f"{label} {reference:.2f}", fill=(120, 120, 120))
    for i, (name, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        line = [at(p[axis], p[2]) for p in s]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for px, py in line:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        draw.text((ox + 8, y0 + 8 + 14 * i), name, fill=colour)


def plot(series: dict[str, list], path: Path, reference: float | None, label: str = "reference") -> None:
    img = Image.new("RGB", (900, 640), "white")
    draw = ImageDraw.Draw(img)
    draw.text((10, 4), "held-out PSNR (dB, photos held out from train) of the long runs", fill=(0, 0, 0))
    _panel(draw, (10, 22, 890, 326), series, 1, "CPU min", reference, label)
    _panel(draw, (10, 332, 890, 636), series, 0, "steps", reference, label)
    img.save(path)


def table(series: dict[str, list], precision: dict[str, dict[int, str]]) -> str:
    lines = ["| run | step | CPU min | trained in | held-out PSNR |", "|---|---:|---:|---|---:|"]
    for name, s in series.items():
        lines += [f"| {name} | {step} | {minutes:.0f} | {precision[name].get(step, 'bf16')} | {psnr:.2f} |"
                  for step, minutes, psnr in s]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="the runs to draw (default: every run of --runs)")
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("long_runs.png"))
    parser.add_argument("--reference", type=float, default=None, help="a dashed line at this PSNR")
    parser.add_argument("--reference-label", default="the default shipped before round 7, best")
    args = parser.parse_args()
    chosen = [args.runs / name for name in args.names] or sorted(args.runs.iterdir())
    chosen = [run for run in chosen if (run / "cpu.jsonl").is_file()]
    series = {run.name: curve(run) for run in chosen}
    plot(series, args.out, args.reference, args.reference_label)
    runs = {run.name: precisions(run) for run in chosen}
    args.out.with_suffix(".md").write_text(table(series, runs))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
