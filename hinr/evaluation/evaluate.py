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
- PSNR (RGB) and SSIM (luma) come from :mod:`hinr.evaluation.metrics`, per image, then are averaged.
- Speed is the wall clock around ``encode`` and ``render`` during the evaluation itself
  (synchronised on CUDA), after one untimed warm-up per model; loading data, baselines and metrics
  are not counted.

Results become a markdown table, a JSON document and a picture grid (:mod:`hinr.evaluation.report`). The layout follows the encode / render split of LIIF that hinr uses throughout.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ..config import DEFAULT_CHUNK
from ..store.checkpoint import (CONFIG_KEY, WEIGHTS_NAME, CheckpointError, load_model, read_metadata,
                         weights_fingerprint)
from ..data.folder import image_to_tensor, load_rgb
from ..data.sr import eval_crops, make_eval_pair
from ..data.degrade import jpeg as jpeg_round_trip
from ..inference.ensemble import self_ensemble
from .grid_score import PhaseProfile
from ..io.coding import check_quality, subsampling_code
from ..io.images import to_pil
from .metrics import psnr, ssim
from ..models.hinr import HINR, Latents
from ..precision import precision_name, resolve_precision
from ..store.shipped import resolve_weights

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
    swapped_psnr: dict[int, list[float]] = field(default_factory=dict)  # another image's latents
    grid: dict[int, PhaseProfile] = field(default_factory=dict)  # scales ≥ 2

    def record(self, scale: int, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.psnr.setdefault(scale, []).extend(psnr(pred, target).tolist())
        self.ssim.setdefault(scale, []).extend(ssim(pred, target).tolist())
        if scale >= 2:
            self.grid.setdefault(scale, PhaseProfile(scale)).add(pred)

    def grid_score(self, scale: int) -> float | None:
        return self.grid[scale].score if scale in self.grid else None

    def latent_gain(self, scale: int) -> float | None:
        """Mean PSNR with each image's own latents minus with another image's (dB)."""
        if not self.swapped_psnr.get(scale):
            return None
        return self.mean_psnr(scale) - _mean(self.swapped_psnr[scale])

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
    precision: str
    ensemble: int
    grid: list[GridRow]
    jpeg: int | None = None  # inputs JPEG-compressed at this quality
    jpeg_chroma: str = "4:2:0"  # ... with this chroma subsampling
    truth_grid: dict[int, float] = field(default_factory=dict)  # the ground truth's grid score


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


def check_request(data: str, scales: Sequence[int], *, crops: int | None = None,
                  split: str | None = None, jpeg: int | None = None,
                  jpeg_chroma: str | None = None) -> None:
    """ValueError (one line) for an evaluation that has no ground truth: CIFAR-10 images are 32×32,
    so only scale 1 of the test split, whole, can be scored there."""
    if data == "cifar10" and (list(scales) != [1] or crops or split not in (None, "test")):
        raise ValueError("cifar10 images are 32×32, so only --scales 1 (reconstruction) of the test "
                         "split has ground truth, without --crops: evaluate upsampling on a photo folder")
    check_quality(jpeg, option="--jpeg")
    if jpeg_chroma is not None:
        if jpeg is None:
            raise ValueError("--jpeg-chroma needs --jpeg Q (the quality of the JPEG inputs)")
        subsampling_code(jpeg_chroma, option="--jpeg-chroma")


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
                low = low if low is not None else to_pil(low_t)
                targets[scale] = to_pil(hr_t)
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
    from ..data.cifar import Cifar10Dataset

    dataset = Cifar10Dataset(data_dir, split="test")
    samples = []
    for index in range(min(limit, len(dataset))):
        image = to_pil(dataset[index])
        samples.append(EvalSample(f"cifar10-test-{index}", image, {1: image}))
    return samples


# --- models ------------------------------------------------------------------------------------

def model_label(spec: str | None, path: Path) -> str:
    """A short label: the run folder's name, the file's stem, or the hf: spec."""
    if spec is not None and str(spec).startswith("hf:"):
        return str(spec)[3:]
    from ..store.shipped import shipped_name  # the rule resolve_weights follows

    name = shipped_name(spec)
    if name is not None:
        return "hinr (shipped)" if name == "default" else f"hinr ({name})"
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
             batch_size: int = 8, chunk: int = DEFAULT_CHUNK, precision: str | torch.dtype = "fp32",
             ensemble: int = 1,
             grid_rows: int = GRID_ROWS, jpeg: int | None = None, jpeg_chroma: str = "4:2:0",
             latent_gain: bool = True, progress: Progress | None = None) -> EvalResult:
    """Score the baselines and every model on ``samples`` at ``scales`` (see the module docstring).

    ``samples`` must hold a target for every scale; models render ``batch_size`` images at a time,
    ``chunk`` queries per image at once, decoding at ``precision`` (see hinr.precision), each
    output the average of ``ensemble`` flipped/rotated passes (hinr.inference.ensemble).
    ``jpeg``: every method sees the input after a JPEG round trip at this quality, with
    ``jpeg_chroma`` subsampling (the ground truth stays clean). ``latent_gain``: also render each
    image from the latents of the next image in
    ``samples`` (a fixed derangement; the image's own pixels stay) and report the PSNR lost.
    ``progress`` gets (images done, total).
    """
    if not samples:
        raise ValueError("no images to evaluate")
    if batch_size < 1 or chunk < 1:
        raise ValueError(f"batch_size and chunk must be positive, got {batch_size}, {chunk}")
    samples = jpeg_inputs(samples, jpeg, jpeg_chroma)
    latent_gain = latent_gain and len(samples) > 1
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    started = time.perf_counter()
    scales = sorted(scales)
    top = scales[-1]
    baselines = [MethodResult(name, "baseline") for name in BASELINES]
    results = [MethodResult(m.label, "model", weights=m.weights, params=m.model.num_parameters,
                            config=json.loads(m.model.config.to_json()), metadata=m.metadata)
               for m in models]
    shown = set(grid_indices(samples, grid_rows))
    truth: dict[int, PhaseProfile] = {}
    grid: dict[int, GridRow] = {}
    for m in models:
        _warm_up(m.model, samples[0], device, chunk, precision)

    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        rows = [i for i in range(start, start + len(batch)) if i in shown]
        for i in rows:
            side = samples[i].targets[top].size[0]
            grid[i] = GridRow(samples[i].name, {"input": samples[i].low.resize((side, side), Image.NEAREST)}, {})
        targets = {k: torch.stack([image_to_tensor(s.targets[k]) for s in batch]) for k in scales}
        for k in scales:
            if k >= 2:
                truth.setdefault(k, PhaseProfile(k)).add(targets[k])
        shown_rows = {i - start: grid[i] for i in rows}  # grid rows of this batch, by batch index
        for result in baselines:
            _score_baseline(result, batch, targets, top, shown_rows)
        low = torch.stack([image_to_tensor(s.low) for s in batch])
        partners = torch.stack([image_to_tensor(samples[(i + 1) % len(samples)].low)
                                for i in range(start, start + len(batch))]) if latent_gain else None
        for m, result in zip(models, results):
            rendered, swapped = _model_renders(m.model, result, low, partners, targets,
                                               ensemble=ensemble, chunk=chunk,
                                               precision=precision, device=device)
            _score_model(result, rendered, swapped, targets, top, shown_rows)
        if progress is not None:
            progress(start + len(batch), len(samples))

    methods = baselines + results
    for i, row in grid.items():
        row.cells["ground truth"] = samples[i].targets[top]
        row.psnr = {r.name: r.psnr[top][i] for r in methods}
    return EvalResult(data=data, split=split, scales=scales, names=[s.name for s in samples],
                      methods=methods, device=str(device), batch_size=batch_size, chunk=chunk,
                      seconds=time.perf_counter() - started, precision=precision_name(precision),
                      ensemble=ensemble, grid=[grid[i] for i in sorted(grid)], jpeg=jpeg,
                      jpeg_chroma=jpeg_chroma,
                      truth_grid={k: p.score for k, p in truth.items()})


def jpeg_inputs(samples: Sequence[EvalSample], jpeg: int | None, chroma: str) -> list[EvalSample]:
    """The samples with every 32×32 input through a JPEG round trip at quality ``jpeg`` (None:
    unchanged); the ground truth stays clean."""
    if jpeg is None:
        return list(samples)
    check_quality(jpeg, option="JPEG quality")
    code = subsampling_code(chroma, option="jpeg_chroma")
    return [EvalSample(s.name, jpeg_round_trip(s.low, jpeg, subsampling=code), s.targets, s.crop)
            for s in samples]


def _score_baseline(result: MethodResult, batch: Sequence[EvalSample],
                    targets: dict[int, torch.Tensor], top: int, shown: dict[int, GridRow]) -> None:
    """One interpolation (``result.name``) on a batch, at every scale; its picture in the grid rows."""
    for k, target in targets.items():
        side = batch[0].targets[k].size[0]
        outputs = [s.low.resize((side, side), BASELINES[result.name]) for s in batch]
        result.record(k, torch.stack([image_to_tensor(o) for o in outputs]), target)
        if k == top:
            for index, row in shown.items():
                row.cells[result.name] = outputs[index]


def _model_renders(model: HINR, result: MethodResult, low: torch.Tensor, partners: torch.Tensor | None,
                   targets: dict[int, torch.Tensor], *, ensemble: int, chunk: int,
                   precision: torch.dtype, device: torch.device):
    """A batch (B, 3, S, S) rendered at every scale through the self-ensemble, encode and render
    timed into ``result``; with ``partners``, also from the partners' latents (for the latent
    gain, not timed). Returns ({scale: (B, 3, H, W)}, the same from the partners' latents or None)."""
    def one_pass(images: torch.Tensor, symmetry) -> dict:
        _sync(device)
        clock = time.perf_counter()
        with torch.inference_mode():
            latents = model.encode(images.to(device))
        _sync(device)
        result.encode_s += time.perf_counter() - clock
        result.encode_images += len(images)
        out = {}
        for k, target in targets.items():
            side = target.shape[-1]
            clock = time.perf_counter()
            out[k] = model.render(latents, side, side, chunk=chunk, precision=precision).cpu()
            _sync(device)
            result.render_s += time.perf_counter() - clock
            result.render_pixels += len(images) * side * side
        if partners is not None:
            turned = symmetry.apply(partners)
            for k, rendered in _render_swapped(model, latents, turned, targets, list(targets),
                                               chunk, precision):
                out[("swapped", k)] = rendered
        return out

    renders = self_ensemble(one_pass, low, ensemble)
    swapped = {k: renders[("swapped", k)] for k in targets} if partners is not None else None
    return {k: renders[k] for k in targets}, swapped


def _score_model(result: MethodResult, rendered: dict[int, torch.Tensor],
                 swapped: dict[int, torch.Tensor] | None, targets: dict[int, torch.Tensor],
                 top: int, shown: dict[int, GridRow]) -> None:
    """Record a model's renders of a batch (rounded to 8 bits, as written), its latent gain and
    its pictures in the grid rows."""
    for k, target in targets.items():
        if swapped is not None:
            result.swapped_psnr.setdefault(k, []).extend(psnr(_quantize(swapped[k]), target).tolist())
        picture = _quantize(rendered[k])
        result.record(k, picture, target)
        if k == top:
            for index, row in shown.items():
                row.cells[result.name] = to_pil(picture[index])


def _render_swapped(model: HINR, latents: Latents, partners: torch.Tensor,
                    targets: dict[int, torch.Tensor], scales: Sequence[int], chunk: int,
                    precision: torch.dtype):
    """Yield (scale, render) of each image of the batch from its partner's tokens, the image's own
    pixels kept (for the options that read them); not timed. ``latents``: the batch's own."""
    with torch.inference_mode():
        other = model.encode(partners.to(latents.tokens.device))
    swapped = Latents(other.tokens, latents.images)
    for k in scales:
        side = targets[k].shape[-1]
        yield k, model.render(swapped, side, side, chunk=chunk, precision=precision).cpu()


def _warm_up(model: HINR, sample: EvalSample, device: torch.device, chunk: int,
             precision: torch.dtype) -> None:
    """One untimed encode + render, so one-off costs (allocator, kernels) stay out of the speed."""
    with torch.inference_mode():
        latents = model.encode(image_to_tensor(sample.low).unsqueeze(0).to(device))
    model.render(latents, sample.low.size[1], sample.low.size[0], chunk=chunk, precision=precision)
    _sync(device)


# --- reporting -----------------------------------------------------------------------------------
