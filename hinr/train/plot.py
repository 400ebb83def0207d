"""A small PNG plot of training loss and validation PSNR, drawn with Pillow (no matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from ..atomic import atomic_write


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], points: list[tuple[float, float]],
           title: str, colour: tuple[int, int, int], log_y: bool = False) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=(160, 160, 160))
    draw.text((x0 + 4, y0 + 2), title, fill=(0, 0, 0))
    pts = [(x, math.log10(y) if log_y else y) for x, y in points if (y > 0 or not log_y) and math.isfinite(y)]
    label = (lambda v: f"{10**v:.3g}") if log_y else (lambda v: f"{v:.2f}")
    if not pts:
        return
    if len(pts) == 1:  # one point (e.g. one validation): a dot and its value, not an empty panel
        (x, y), cx, cy = pts[0], (x0 + x1) // 2, (y0 + y1) // 2
        draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=colour)
        draw.text((cx + 8, cy - 7), f"{label(y)} at step {int(x)}", fill=(80, 80, 80))
        return
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    lo, hi = min(ys), max(ys)
    hi = hi if hi > lo else lo + 1.0
    sx = (x1 - x0 - 20) / max(1e-9, max(xs) - min(xs))
    sy = (y1 - y0 - 30) / (hi - lo)
    line = [(x0 + 10 + (x - min(xs)) * sx, y1 - 10 - (y - lo) * sy) for x, y in pts]
    draw.line(line, fill=colour, width=2)
    draw.text((x1 - 70, y0 + 2), f"{label(hi)}", fill=(80, 80, 80))
    draw.text((x1 - 70, y1 - 14), f"{label(lo)}", fill=(80, 80, 80))
    draw.text((x0 + 4, y1 - 14), f"step {int(min(xs))} - {int(max(xs))}", fill=(80, 80, 80))


def _running_mean(points: list[tuple[float, float]], *, window: int) -> list[tuple[float, float]]:
    """Trailing mean over ``window`` points: per-step losses are too noisy to read."""
    out, total = [], 0.0
    for i, (x, y) in enumerate(points):
        total += y
        if i >= window:
            total -= points[i - window][1]
        out.append((x, total / min(i + 1, window)))
    return out


def plot_metrics(records: list[dict], path: Path) -> None:
    """records: dicts with 'step' and 'loss' and/or 'val_psnr' (and optionally 'val_bicubic_psnr').
    Written atomically, replacing the previous plot (it is redrawn at every checkpoint)."""
    img = Image.new("RGB", (720, 520), "white")
    draw = ImageDraw.Draw(img)
    loss = _running_mean([(r["step"], r["loss"]) for r in records if "loss" in r], window=50)
    psnr = [(r["step"], r["val_psnr"]) for r in records if "val_psnr" in r]
    _panel(draw, (10, 10, 710, 255), loss, "training loss (MSE, log scale, mean of 50 steps)",
           (200, 60, 40), log_y=True)
    _panel(draw, (10, 265, 710, 510), psnr, "validation PSNR (dB)", (40, 90, 200))
    bicubic = [r["val_bicubic_psnr"] for r in records if "val_bicubic_psnr" in r]
    if bicubic:
        draw.text((200, 267), f"bicubic on the same set: {bicubic[-1]:.2f} dB", fill=(90, 90, 90))
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"), overwrite=True, what="metrics plot")
