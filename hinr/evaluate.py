"""Evaluating upsampling: hinr models beside classical interpolation, on the same images.

The protocol behind ``hinr eval``:

- Each HR image is a photo's centre square (or one of its :func:`hinr.data.sr.eval_crops`
  squares). For scale k the ground truth is that square reduced to 32·k px and the input is it
  reduced to 32 px, both with PIL's antialiased bicubic (:func:`hinr.data.sr.make_eval_pair`), i.e.
  how a user's small image is made. CIFAR-10 test images are 32×32 already: only scale 1
  (reconstruction) has ground truth there.
- Baselines resize the 32×32 8-bit input with PIL (nearest, bilinear, bicubic, Lanczos), which is
  what users compare against. Model outputs are rounded to 8 bits, as ``hinr upscale`` saves them,
  so every method is scored on what it would write to disk.
- PSNR (RGB) and SSIM (luma) come from :mod:`hinr.metrics`, per image, then are averaged.
- Speed is the wall clock around ``encode`` and ``render`` during the evaluation itself
  (synchronised on CUDA), after one untimed warm-up per model; loading data, baselines and metrics
  are not counted.

Results become a markdown table, a JSON document and a picture grid; :func:`write_results` writes
them atomically. The layout follows the encode / render split of LIIF that hinr uses throughout.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from .checkpoint import (CONFIG_KEY, WEIGHTS_NAME, CheckpointError, load_model, read_metadata,
                         resolve_weights_file, weights_fingerprint)
from .data.folder import image_to_tensor, load_rgb
from .data.sr import eval_crops, make_eval_pair
from .metrics import psnr, ssim
from .models.hinr import HINR

logger = logging.getLogger(__name__)

BASELINES = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
             "lanczos": Image.LANCZOS}
CIFAR_DEFAULT_LIMIT = 500
GRID_ROWS = 4
SSIM_NOTE = "SSIM on BT.601 luma, Gaussian window 11×11 σ=1.5, K1=0.01, K2=0.03, data range 1"

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class EvalSample:
    """One evaluation image: the 32×32 input and its ground truth at each scale (8-bit RGB)."""

    name: str
    low: Image.Image
    targets: dict[int, Image.Image]
    crop: int = 0  # 0: the photo's centre square; i: the i-th eval_crops square


@dataclass
class EvalModel:
    label: str
    model: HINR
    weights: str  # the file it was loaded from
    metadata: dict[str, str] = field(default_factory=dict)  # e.g. train_step, and a fingerprint


@dataclass
class MethodResult:
    """Per-image scores of one method, and for models the time spent encoding and rendering."""

    name: str
    kind: str  # "baseline" or "model"
    psnr: dict[int, list[float]] = field(default_factory=dict)
    ssim: dict[int, list[float]] = field(default_factory=dict)
    weights: str | None = None
    params: int | None = None
    config: dict | None = None
    metadata: dict[str, str] | None = None
    encode_s: float = 0.0
    encode_images: int = 0
    render_s: float = 0.0
    render_pixels: int = 0

    def record(self, scale: int, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.psnr.setdefault(scale, []).extend(psnr(pred, target).tolist())
        self.ssim.setdefault(scale, []).extend(ssim(pred, target).tolist())

    def mean_psnr(self, scale: int) -> float:
        return _mean(self.psnr[scale])

    def mean_ssim(self, scale: int) -> float:
        return _mean(self.ssim[scale])

    @property
    def encode_images_per_s(self) -> float | None:
        return self.encode_images / self.encode_s if self.encode_s > 0 else None

    @property
    def render_mpix_per_s(self) -> float | None:
        return self.render_pixels / self.render_s / 1e6 if self.render_s > 0 else None


@dataclass
class GridRow:
    """The pictures of one grid row at the largest scale, keyed by column label."""

    name: str
    cells: dict[str, Image.Image]
    psnr: dict[str, float]


@dataclass
class EvalResult:
    data: str
    split: str | None
    scales: list[int]
    names: list[str]
    methods: list[MethodResult]
    device: str
    batch_size: int
    chunk: int
    seconds: float
    grid: list[GridRow]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan  # an exact match (+inf) stays inf


# --- inputs ------------------------------------------------------------------------------------

def parse_scales(text: str) -> list[int]:
    """'1,2,4,8' → [1, 2, 4, 8] (sorted, unique); ValueError naming the bad part otherwise."""
    scales = set()
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"scales must be positive integers separated by commas (e.g. 1,2,4,8), "
                             f"got {part!r} in {text!r}")
        scales.add(int(part))
    return sorted(scales)


def photo_samples(paths: Sequence[Path], scales: Sequence[int], *, root: Path | None = None,
                  crops: int | None = None, input_size: int = 32,
                  progress: Progress | None = None) -> list[EvalSample]:
    """Evaluation samples from photos: each photo's centre square, or ``crops`` squares of it.

    Crops (:func:`eval_crops`) are at least input_size·max(scales) px where the photo allows; a
    photo too small for ``crops`` of them gets fewer. Names are paths relative to ``root``, with
    ``#i`` for the i-th crop.
    """
    min_side = input_size * max(scales)
    samples = []
    for done, path in enumerate(paths, 1):
        image = load_rgb(path)
        name = Path(path).relative_to(root).as_posix() if root is not None else Path(path).name
        squares = [image]
        if crops is not None and crops > 1:
            squares = _fitting_crops(image, crops, min_side)
            if len(squares) < crops:
                logger.info("%s: %d crops of at least %d px fit, not %d", name, len(squares),
                            min_side, crops)
        for index, square in enumerate(squares):
            low, targets = None, {}
            for scale in scales:
                low_t, hr_t = make_eval_pair(square, scale, input_size=input_size)
                low = low if low is not None else _to_pil(low_t)
                targets[scale] = _to_pil(hr_t)
            samples.append(EvalSample(name if index == 0 else f"{name}#{index}", low, targets, index))
        if progress is not None:
            progress(done, len(paths))
    return samples


def _fitting_crops(image: Image.Image, n: int, min_side: int) -> list[Image.Image]:
    for count in range(n, 0, -1):
        try:
            return eval_crops(image, count, min_side=min_side)
        except ValueError:
            continue
    return [image]


def cifar_samples(data_dir: str | Path | None, *, limit: int = CIFAR_DEFAULT_LIMIT) -> list[EvalSample]:
    """The first ``limit`` CIFAR-10 test images, each its own ground truth at scale 1."""
    from .data.cifar import Cifar10Dataset

    dataset = Cifar10Dataset(data_dir, split="test")
    samples = []
    for index in range(min(limit, len(dataset))):
        image = _to_pil(dataset[index])
        samples.append(EvalSample(f"cifar10-test-{index}", image, {1: image}))
    return samples


def _to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] → 8-bit RGB (exact for tensors made from 8-bit images)."""
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array)


# --- models ------------------------------------------------------------------------------------

def resolve_weights(spec: str | None) -> Path:
    """The weights file ``--weights`` names: hinr.weights' resolver (run folders, files, hf:…, the
    shipped model) where this install has it, else a run folder or a .safetensors path."""
    try:
        from .weights import resolve_weights as resolve
    except ImportError:
        if spec is None:
            raise CheckpointError("no default weights in this install: pass --weights RUN_DIR or a "
                                  ".safetensors file") from None
        return resolve_weights_file(spec)
    return resolve(spec)


def model_label(spec: str | None, path: Path) -> str:
    """A short label: the run folder's name, the file's stem, or the hf: spec."""
    if spec is not None and str(spec).startswith("hf:"):
        return str(spec)[3:]
    if spec is None:
        return "hinr (shipped)"
    path = Path(path).resolve()
    return path.parent.name if path.name == WEIGHTS_NAME else path.stem


def load_models(specs: Sequence[str | None], *, device: torch.device | str = "cpu") -> list[EvalModel]:
    """Load every ``--weights``; labels are made unique with -2, -3…; all must share one input size."""
    models, seen = [], {}
    for spec in specs:
        path = resolve_weights(spec)
        metadata = {k: v for k, v in read_metadata(path).items() if k != CONFIG_KEY}
        model = load_model(path, device=device)
        metadata["fingerprint"] = weights_fingerprint(model)  # a run folder may be rewritten later
        label = model_label(spec, path)
        seen[label] = seen.get(label, 0) + 1
        models.append(EvalModel(label if seen[label] == 1 else f"{label}-{seen[label]}", model,
                                str(path), metadata))
    sizes = {m.model.config.image_size for m in models}
    if len(sizes) > 1:
        raise CheckpointError(f"the models take different input sizes {sorted(sizes)}: evaluate them "
                              "separately")
    return models


# --- the evaluation loop -----------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _quantize(images: torch.Tensor) -> torch.Tensor:
    """Round to 8 bits, as a saved PNG would."""
    return (images.float().clamp(0, 1) * 255).round() / 255


def grid_indices(samples: Sequence[EvalSample], rows: int = GRID_ROWS) -> list[int]:
    """The samples shown in the grid: whole photos first, then crops, in order."""
    whole = [i for i, s in enumerate(samples) if s.crop == 0]
    rest = [i for i, s in enumerate(samples) if s.crop != 0]
    return (whole + rest)[:rows]


def evaluate(samples: Sequence[EvalSample], models: Sequence[EvalModel], scales: Sequence[int], *,
             data: str = "", split: str | None = None, device: torch.device | str = "cpu",
             batch_size: int = 8, chunk: int = 16384, grid_rows: int = GRID_ROWS,
             progress: Progress | None = None) -> EvalResult:
    """Score the baselines and every model on ``samples`` at ``scales`` (see the module docstring).

    ``samples`` must hold a target for every scale; models render ``batch_size`` images at a time,
    ``chunk`` queries per image at once. ``progress`` gets (images done, total).
    """
    if not samples:
        raise ValueError("no images to evaluate")
    if batch_size < 1 or chunk < 1:
        raise ValueError(f"batch_size and chunk must be positive, got {batch_size}, {chunk}")
    device = torch.device(device)
    started = time.perf_counter()
    scales = sorted(scales)
    top = scales[-1]
    baselines = [MethodResult(name, "baseline") for name in BASELINES]
    results = [MethodResult(m.label, "model", weights=m.weights, params=m.model.num_parameters,
                            config=json.loads(m.model.config.to_json()), metadata=m.metadata)
               for m in models]
    shown = set(grid_indices(samples, grid_rows))
    grid: dict[int, GridRow] = {}
    for m in models:
        _warm_up(m.model, samples[0], device, chunk)

    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        rows = [i for i in range(start, start + len(batch)) if i in shown]
        for i in rows:
            side = samples[i].targets[top].size[0]
            enlarged = samples[i].low.resize((side, side), Image.NEAREST)
            grid[i] = GridRow(samples[i].name, {"input": enlarged}, {})
        low = torch.stack([image_to_tensor(s.low) for s in batch])
        targets = {k: torch.stack([image_to_tensor(s.targets[k]) for s in batch]) for k in scales}

        for result in baselines:
            for k in scales:
                side = batch[0].targets[k].size[0]
                outputs = [s.low.resize((side, side), BASELINES[result.name]) for s in batch]
                result.record(k, torch.stack([image_to_tensor(o) for o in outputs]), targets[k])
                if k == top:
                    for i in rows:
                        grid[i].cells[result.name] = outputs[i - start]

        for m, result in zip(models, results):
            _sync(device)
            clock = time.perf_counter()
            with torch.inference_mode():
                latents = m.model.encode(low.to(device))
            _sync(device)
            result.encode_s += time.perf_counter() - clock
            result.encode_images += len(batch)
            for k in scales:
                side = batch[0].targets[k].size[0]
                clock = time.perf_counter()
                rendered = m.model.render(latents, side, side, chunk=chunk)
                _sync(device)
                result.render_s += time.perf_counter() - clock
                result.render_pixels += len(batch) * side * side
                rendered = _quantize(rendered.cpu())
                result.record(k, rendered, targets[k])
                if k == top:
                    for i in rows:
                        grid[i].cells[m.label] = _to_pil(rendered[i - start])
        if progress is not None:
            progress(start + len(batch), len(samples))

    methods = baselines + results
    for i, row in grid.items():
        row.cells["ground truth"] = samples[i].targets[top]
        row.psnr = {r.name: r.psnr[top][i] for r in methods}
    return EvalResult(data=data, split=split, scales=scales, names=[s.name for s in samples],
                      methods=methods, device=str(device), batch_size=batch_size, chunk=chunk,
                      seconds=time.perf_counter() - started, grid=[grid[i] for i in sorted(grid)])


def _warm_up(model: HINR, sample: EvalSample, device: torch.device, chunk: int) -> None:
    """One untimed encode + render, so one-off costs (allocator, kernels) stay out of the speed."""
    with torch.inference_mode():
        latents = model.encode(image_to_tensor(sample.low).unsqueeze(0).to(device))
    model.render(latents, sample.low.size[1], sample.low.size[0], chunk=chunk)
    _sync(device)


# --- reporting -----------------------------------------------------------------------------------

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
    return (f"PSNR (dB, RGB) and SSIM (luma) on {len(result.names)} images of {source}, "
            f"ground truth = PIL bicubic reduction; {result.device}, batch {result.batch_size}.\n\n"
            + "\n".join(lines) + "\n")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
                                    "ssim_per_image": r.ssim[k]} for k in result.scales}
        return entry

    return {
        "data": result.data, "split": result.split, "scales": result.scales,
        "images": result.names, "device": result.device, "batch_size": result.batch_size,
        "chunk": result.chunk, "seconds": result.seconds,
        "protocol": {
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


def _atomic_write(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(result: EvalResult, out_dir: str | Path) -> list[Path]:
    """Write results.json, results.md and grid.png into ``out_dir`` (each via temp file + rename)."""
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
    paths = []
    for name, payload in files.items():
        _atomic_write(out_dir / name, payload)
        paths.append(out_dir / name)
    return paths
