"""The ``hinr eval --benchmark`` table (markdown) and its JSON, published rows beside ours."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_write
from . import report
from .standard_sets import BenchmarkResult
from .published import PUBLISHED

RESULT_FILES = ("results.json", "results.md")
PROTOCOL = ("luma (BT.601, 16–235) PSNR / SSIM, scale px shaved off each border, mean over each "
            "set's images; outputs rounded to 8 bits as hinr upscale writes them")


def _column(cell: tuple[str, int], made: bool) -> str:
    name, scale = cell
    return f"{name} ×{scale}" + ("*" if made else "")


def markdown_table(result: BenchmarkResult) -> str:
    cells = result.cells
    head = "| method | " + " | ".join(_column(c, result.made_lr[c]) for c in cells) + " |"
    lines = [head, "|---|" + "---:|" * len(cells)]
    for method in result.methods:
        row = [f"{result.scores[(s, k, method)].mean_psnr:.2f} / {result.scores[(s, k, method)].mean_ssim:.4f}"
               if (s, k, method) in result.scores else "—" for s, k in cells]
        passes = f", self-ensemble ×{result.ensemble}" if result.ensemble > 1 else ""
        label = f"**{method}{passes}**" if method != "bicubic" else "bicubic (PIL)"
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    for published in PUBLISHED:
        row = []
        for s, k in cells:
            value = published.scores.get((s, k))
            row.append("—" if value is None or result.made_lr[(s, k)] else f"{value[0]:.2f} / {value[1]:.4f}")
        if any(v != "—" for v in row):
            lines.append(f"| published {published.method} | " + " | ".join(row) + " |")
    notes = [f"\nPSNR (dB) / SSIM: {PROTOCOL}."]
    if result.ensemble > 1:
        notes.append(f"Self-ensemble ×{result.ensemble}: each hinr output is the mean of "
                     f"{result.ensemble} flipped and turned passes (EDSR's \"+\" rows), "
                     f"{result.ensemble}× the decoding; the published rows are single passes.")
    if any(result.made_lr.values()):
        notes.append("* LR made by PIL's antialiased bicubic from the HR (the set ships no such "
                     "scale): not the papers' MATLAB LR, so no published figures beside it.")
    sources = "; ".join(f"{p.method}: {p.source}" for p in PUBLISHED)
    notes.append(f"Published rows: {sources}.")
    return "\n".join(lines) + "\n" + "\n".join(notes) + "\n"


def result_json(result: BenchmarkResult) -> dict:
    return {
        "benchmark": result.root, "protocol": PROTOCOL, "scales": result.scales,
        "device": result.device, "precision": result.precision, "ensemble": result.ensemble,
        "seconds": round(result.seconds, 2),
        "models": {label: {"weights": result.weights.get(label),
                           "fingerprint": result.fingerprints.get(label)}
                   for label in result.methods if label != "bicubic"},
        "results": [
            {"set": s, "scale": k, "method": m, "lr_made_by_pil_bicubic": result.made_lr[(s, k)],
             "psnr": round(sc.mean_psnr, 4), "ssim": round(sc.mean_ssim, 5),
             "images": {n: {"psnr": round(p, 4), "ssim": round(q, 5)}
                        for n, p, q in zip(sc.names, sc.psnr, sc.ssim)}}
            for (s, k, m), sc in sorted(result.scores.items(),
                                        key=lambda i: (i[0][0], i[0][1], result.methods.index(i[0][2])))],
        "published": [{"method": p.method, "source": p.source,
                       "scores": [{"set": s, "scale": k, "psnr": v[0], "ssim": v[1]}
                                  for (s, k), v in p.scores.items()]} for p in PUBLISHED],
    }


def check_no_results(out_dir: str | Path) -> None:
    """OutputExistsError if ``out_dir`` holds an earlier benchmark's results (report's one check)."""
    report.check_no_results(out_dir, RESULT_FILES)


def write_results(result: BenchmarkResult, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """results.json and results.md in ``out_dir``, atomically; nothing written if either exists
    without ``overwrite``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"results.json": json.dumps(result_json(result), indent=1, ensure_ascii=False) + "\n",
             "results.md": markdown_table(result)}
    if not overwrite:
        check_no_results(out_dir)
    return [atomic_write(out_dir / name, lambda tmp, text=text: Path(tmp).write_text(text),
                         overwrite=overwrite, what="benchmark results") for name, text in files.items()]
