"""Reporting an evaluation (:mod:`hinr.evaluation.evaluate`): a markdown table, a JSON document and a picture
grid (input, bicubic, each model, ground truth), written atomically by :func:`write_results`."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_write
from ..errors import OutputExistsError
from .evaluate import SSIM_NOTE, EvalResult, MethodResult

def _fmt_psnr(value: float) -> str:
    return "∞" if value == math.inf else f"{value:.2f}"


def _fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def markdown_table(result: EvalResult) -> str:
    """The results as a markdown table, the best PSNR and SSIM of each scale in bold."""
    scales = result.scales
    header = ["method"] + [f"×{k} {m}" for k in scales for m in ("PSNR", "SSIM")] + [
        "params", "encode img/s", "render Mpix/s"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    cells = {r.name: [] for r in result.methods}
    for k in scales:
        for metric, fmt in (("psnr", _fmt_psnr), ("ssim", lambda v: f"{v:.4f}")):
            shown = {r.name: fmt(getattr(r, f"mean_{metric}")(k)) for r in result.methods}
            best = max(getattr(r, f"mean_{metric}")(k) for r in result.methods)
            best_text = fmt(best)
            for r in result.methods:
                text = shown[r.name]
                cells[r.name].append(f"**{text}**" if text == best_text else text)
    for r in result.methods:
        params = f"{r.params / 1e6:.2f} M" if r.params is not None else "—"
        row = [r.name] + cells[r.name] + [params, _fmt_rate(r.encode_images_per_s),
                                          _fmt_rate(r.render_mpix_per_s)]
        lines.append("| " + " | ".join(row) + " |")
    source = result.data + (f" (split {result.split})" if result.split else "")
    ensemble = f", self-ensemble of {result.ensemble}" if result.ensemble > 1 else ""
    jpeg = (f", inputs JPEG quality {result.jpeg} ({result.jpeg_chroma})" if result.jpeg is not None
            else "")
    return (f"PSNR (dB, RGB) and SSIM (luma) on {len(result.names)} images of {source}, "
            f"ground truth = PIL bicubic reduction{jpeg}; {result.device} ({result.precision}"
            f"{ensemble}), batch {result.batch_size}.\n\n" + "\n".join(lines) + "\n"
            + diagnostics_table(result))


def diagnostics_table(result: EvalResult) -> str:
    """Latent gain (own latents vs another image's, dB) and grid score (1.0 = no pattern locked
    to the input pixels) per scale ≥ 2; empty when there is no such scale."""
    scales = [k for k in result.scales if k >= 2]
    if not scales:
        return ""
    header = ["method"] + [f"×{k} {m}" for k in scales for m in ("latent gain", "grid")]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    truth = ["ground truth"] + [c for k in scales
                                for c in ("—", _fmt_score(result.truth_grid.get(k)))]
    lines.append("| " + " | ".join(truth) + " |")
    for r in result.methods:
        row = [r.name]
        for k in scales:
            gain = r.latent_gain(k)
            row += ["—" if gain is None or math.isnan(gain) else f"{gain:+.2f}",
                    _fmt_score(r.grid_score(k))]
        lines.append("| " + " | ".join(row) + " |")
    return ("\nLatent gain: PSNR with each image's own latents minus with the next image's (dB); "
            "grid score: max/min over the phases within an input pixel of the mean |gradient| "
            "(1.0 = no grid pattern).\n\n" + "\n".join(lines) + "\n")


def _fmt_score(value: float | None) -> str:
    return "—" if value is None else ("∞" if value == math.inf else f"{value:.2f}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None else _finite(value)


def result_json(result: EvalResult) -> dict:
    """A JSON-ready dict: settings, per-method means and per-image scores (PSNR null = exact)."""
    def method(r: MethodResult) -> dict:
        entry = {"name": r.name, "kind": r.kind}
        if r.kind == "model":
            entry.update(weights=r.weights, weights_metadata=r.metadata, params=r.params,
                         config=r.config,
                         encode_images_per_s=r.encode_images_per_s,
                         render_mpix_per_s=r.render_mpix_per_s,
                         encode_seconds=r.encode_s, render_seconds=r.render_s)
        entry["scales"] = {str(k): {"psnr": _finite(r.mean_psnr(k)), "ssim": r.mean_ssim(k),
                                    "psnr_per_image": [_finite(v) for v in r.psnr[k]],
                                    "ssim_per_image": r.ssim[k],
                                    "grid_score": _finite_or_none(r.grid_score(k)),
                                    "latent_gain": _finite_or_none(r.latent_gain(k)),
                                    "swapped_psnr_per_image": [_finite(v) for v in
                                                               r.swapped_psnr.get(k, [])]}
                           for k in result.scales}
        return entry

    return {
        "data": result.data, "split": result.split, "scales": result.scales,
        "images": result.names, "device": result.device, "batch_size": result.batch_size,
        "chunk": result.chunk, "precision": result.precision, "ensemble": result.ensemble,
        "seconds": result.seconds, "jpeg": result.jpeg,
        "jpeg_chroma": result.jpeg_chroma if result.jpeg is not None else None,
        "ground_truth_grid_score": {str(k): _finite_or_none(v) for k, v in result.truth_grid.items()},
        "protocol": {
            "latent_gain": "mean PSNR with each image's own latents minus with the latents of the "
                           "next image in the list (its own pixels kept), per scale",
            "grid_score": "max/min over the k phases of an input pixel of the mean |horizontal "
                          "and vertical neighbour difference| of the output; 1.0 = no pattern",
            "ground_truth": "HR square reduced to 32·scale px with PIL bicubic (antialiased); "
                            "input: the same square reduced to 32 px",
            "psnr": "dB, peak 1, MSE over all pixels and RGB channels per image, then averaged; "
                    "null = infinite (output identical to the ground truth)",
            "ssim": SSIM_NOTE + "; valid window positions; averaged over images",
            "outputs": "model renders rounded to 8 bits like the baselines",
            "timing": "wall clock of encode and render during the evaluation, after one untimed "
                      "warm-up; data loading, baselines and metrics excluded",
        },
        "methods": [method(r) for r in result.methods],
    }


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def draw_grid(result: EvalResult, *, min_cell: int = 128) -> Image.Image:
    """Rows: example images; columns: input (nearest), bicubic, each model, ground truth, at the
    largest scale, labelled on top, each output with its PSNR. Small cells are enlarged (nearest)
    to ``min_cell`` px so 32 px renders stay visible."""
    models = [r.name for r in result.methods if r.kind == "model"]
    columns = ["input", "bicubic", *models, "ground truth"]
    side = result.grid[0].cells["input"].size[0] if result.grid else min_cell
    cell = max(side, min_cell)
    pad, header = 4, 22
    font, small = _font(14), _font(12)
    canvas = Image.new("RGB", (pad + len(columns) * (cell + pad), header + len(result.grid) * (cell + pad)),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(columns):
        text = _fit_text(draw, "input (nearest)" if label == "input" else label, font, cell - 4)
        draw.text((pad + c * (cell + pad) + 2, 3), text, fill="black", font=font)
    for r, row in enumerate(result.grid):
        top = header + r * (cell + pad)
        for c, label in enumerate(columns):
            left = pad + c * (cell + pad)
            canvas.paste(row.cells[label].resize((cell, cell), Image.NEAREST), (left, top))
            if label in row.psnr:
                value = row.psnr[label]  # the default font has no ∞
                caption = "exact" if value == math.inf else f"{value:.2f} dB"
                box = draw.textbbox((left + 3, top + 3), caption, font=small)
                draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill="black")
                draw.text((left + 3, top + 3), caption, fill="white", font=small)
    return canvas


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """``text``, cut and ended with '...' until it is at most ``width`` px wide."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


RESULT_FILES = ("results.json", "results.md", "grid.png")


def check_no_results(out_dir: str | Path, names: tuple[str, ...] = RESULT_FILES) -> None:
    """OutputExistsError if ``out_dir`` holds any of ``names`` from an earlier evaluation."""
    for name in names:
        if (Path(out_dir) / name).exists():
            raise OutputExistsError(f"{Path(out_dir) / name} exists (an earlier evaluation): pass "
                                    "--overwrite to replace its results, or choose another --out")


def write_results(result: EvalResult, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write results.json, results.md and grid.png into ``out_dir`` (each through
    :func:`hinr.atomic.atomic_write`). Without ``overwrite``, refuse before writing anything if
    any of them exists."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    draw_grid(result).save(png, format="PNG")
    files = {
        "results.json": (json.dumps(result_json(result), indent=1, allow_nan=False,
                                   ensure_ascii=False) + "\n").encode(),
        "results.md": markdown_table(result).encode(),
        "grid.png": png.getvalue(),
    }
    if not overwrite:
        check_no_results(out_dir)
    return [atomic_write(out_dir / name, _bytes_writer(payload), overwrite=overwrite,
                         what="evaluation results") for name, payload in files.items()]


def _bytes_writer(payload: bytes):
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(payload)
    return write
