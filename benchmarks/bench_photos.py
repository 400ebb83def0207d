"""Whole photos at 480×270 and 960×540 upscaled ×2 and ×4: hinr beside PIL bicubic and OpenCV's
FSRCNN, ESPCN and LapSRN, with wall time, output Mpx/s, peak RSS and PSNR.

A script run by hand, not a test (issue 15, item 1). Each photo of the val split of
../shared/photos (its MANIFEST.tsv; or ``--photo PATH``) is centre-cropped to 16:9 and reduced with
PIL bicubic to the input size; the ground truth is the same crop reduced with PIL bicubic to the
output size. The photos are at most 1280 px wide, so a ground truth larger than the crop would be an
enlargement, not a reduction: PSNR is only taken over the photos whose crop covers the output
("—" where none does). Likewise a photo smaller than the input size is enlarged into it.

Each (case, method) runs in a fresh interpreter (``harness.run_worker``): peak RSS is that worker's
peak (imports, weights and the upscales; see ``peak_rss_mib``); the wall time, and the CPU time of
all its threads (which another process on the same cores inflates less than the wall time), cover
the upscales of all photos after a warm-up, not start-up or weight loading (shown apart for
hinr). Outputs are rounded to 8 bits before PSNR (RGB, peak 255), as the CLI saves them. Methods:

- ``hinr``: ``hinr.inference.upscale.upscale_image(model, rgb, (H, W), precision="auto")``, the CLI's path,
  with the shipped weights (``hinr.load_model()``) or ``--weights``;
- ``hinr-tiled``: the same in 32×32 tiles even where the model encodes whole images (the path
  before whole-image encoding, to measure what it saves in one run);
- ``bicubic``: PIL's bicubic resize;
- ``fsrcnn``, ``espcn``, ``lapsrn``: ``cv2.dnn_superres`` with the public TensorFlow exports, when
  opencv-contrib is installed (``pip install -e ".[bench]"``) and ``--opencv-models DIR`` holds
  ``FSRCNN_x2.pb`` … (benchmarks/README.md says where they come from). Nothing is downloaded.

    OMP_NUM_THREADS=2 python benchmarks/bench_photos.py --opencv-models /tmp/opencv_models
    python benchmarks/bench_photos.py --cases 480x270x4 --methods hinr bicubic --weights runs/x
    python benchmarks/bench_photos.py --quick          # one photo, 480×270 ×2 only
    python benchmarks/bench_photos.py --profile        # torch.profiler on one 480×270 → 1920×1080
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, parse_args, run_worker  # noqa: E402

INPUTS = ((480, 270), (960, 540))  # (width, height)
SCALES = (2, 4)
OPENCV = {"fsrcnn": "FSRCNN", "espcn": "ESPCN", "lapsrn": "LapSRN"}  # method → .pb file prefix
METHODS = ("hinr", "hinr-tiled", "bicubic", *OPENCV)


@dataclass(frozen=True)
class Case:
    """One input size and scale; the output is the input times ``scale`` on each side."""

    width: int
    height: int
    scale: int

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}x{self.scale}"

    @property
    def output(self) -> tuple[int, int]:
        return self.width * self.scale, self.height * self.scale

    @classmethod
    def parse(cls, name: str) -> "Case":
        try:
            w, h, s = (int(part) for part in name.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"case {name!r} is not WxHxS, e.g. 480x270x4") from None
        if min(w, h) < 1 or s not in SCALES:
            raise argparse.ArgumentTypeError(f"case {name!r}: sizes must be positive, scale 2 or 4")
        return cls(w, h, s)


CASES = tuple(Case(w, h, s) for w, h in INPUTS for s in SCALES)


def crop_16_9(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred 16:9 box (left, top, right, bottom) inside a width × height image."""
    w = min(width, height * 16 // 9)
    h = min(height, w * 9 // 16)
    w = min(w, h * 16 // 9)  # so that w:h is as close to 16:9 as integer pixels allow
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def prepare(photo, size: tuple[int, int]):
    """PIL RGB photo → its centred 16:9 crop resized (PIL bicubic, antialiased) to size = (W, H)."""
    from PIL import Image

    return photo.crop(crop_16_9(*photo.size)).resize(size, Image.BICUBIC)


def covers(photo_size: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether the photo's 16:9 crop is at least ``size``: then ``prepare`` reduces, never enlarges."""
    left, top, right, bottom = crop_16_9(*photo_size)
    return right - left >= size[0] and bottom - top >= size[1]


def opencv_model(folder: str | None, method: str, scale: int) -> Path | None:
    """The .pb file for an OpenCV method, or None when the folder does not hold it."""
    if not folder:
        return None
    path = Path(folder) / f"{OPENCV[method]}_x{scale}.pb"
    return path if path.is_file() else None


def opencv_missing(folder: str | None) -> str | None:
    """Why the OpenCV rows cannot run (no cv2.dnn_superres, no folder), or None when they can."""
    try:
        from cv2 import dnn_superres  # noqa: F401
    except ImportError:
        return 'no cv2.dnn_superres: pip install -e ".[bench]"'
    if not folder:
        return "no --opencv-models DIR (see benchmarks/README.md)"
    return None


def peak_rss_mib() -> float:
    """This process' peak resident memory in MiB: VmHWM where /proc has it, else ``ru_maxrss``.

    Linux carries ``ru_maxrss`` across fork and exec, so a worker forked from a parent that holds
    torch (~220 MiB) reports at least the parent's size; VmHWM belongs to the new address space
    that exec creates, so it is the worker's own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def psnr_8bit(a, b) -> float:
    """PSNR in dB of two uint8 arrays of one shape, peak 255 (hinr's one formula)."""
    import numpy as np

    from hinr.evaluation.metrics import psnr_from_mse

    return psnr_from_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), peak=255.0)


def _upscaler(spec: dict):
    """(function uint8 (h, w, 3) RGB array → uint8 (scale·h, scale·w, 3), seconds spent loading)."""
    import numpy as np

    scale = Case.parse(spec["case"]).scale
    start = time.perf_counter()
    if spec["method"] == "bicubic":
        from PIL import Image

        def bicubic(rgb):
            h, w = rgb.shape[:2]
            return np.asarray(Image.fromarray(rgb).resize((w * scale, h * scale), Image.BICUBIC))

        return bicubic, 0.0
    if spec["method"] in OPENCV:
        import cv2
        from cv2 import dnn_superres

        cv2.setNumThreads(spec["threads"])
        sr = dnn_superres.DnnSuperResImpl_create()
        sr.readModel(spec["model"])
        sr.setModel(spec["method"], scale)

        def opencv(rgb):  # dnn_superres takes and gives BGR
            bgr = sr.upsample(np.ascontiguousarray(rgb[:, :, ::-1]))
            return np.ascontiguousarray(bgr[:, :, ::-1])

        return opencv, time.perf_counter() - start
    import torch

    from hinr import load_model
    from hinr.inference.upscale import upscale_image

    torch.set_num_threads(spec["threads"])
    model = load_model(spec["weights"])
    whole = False if spec["method"] == "hinr-tiled" else None  # hinr-tiled: 32×32 tiles always

    def hinr(rgb):
        h, w = rgb.shape[:2]
        image = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
        out = upscale_image(model, image, (h * scale, w * scale), precision="auto", whole=whole)
        return (out.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()

    return hinr, time.perf_counter() - start


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(spec: dict) -> dict:
    """Upscale every photo of the spec for one (case, method); runs in a fresh interpreter."""
    import numpy as np
    from PIL import Image

    case = Case.parse(spec["case"])
    upscale, load_seconds = _upscaler(spec)
    photos = [Image.open(p).convert("RGB") for p in spec["photos"]]
    inputs = [np.asarray(prepare(p, (case.width, case.height))) for p in photos]
    upscale(np.ascontiguousarray(inputs[0][:40, :40]))  # warm-up: first-call allocations, kernels
    seconds, cpu, scores = 0.0, 0.0, []
    for photo, rgb in zip(photos, inputs):
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        out = upscale(rgb)
        seconds += time.perf_counter() - start
        cpu += _cpu_seconds() - cpu_start
        if out.shape != (case.output[1], case.output[0], 3):
            raise RuntimeError(f"{spec['method']} gave {out.shape}, expected {case.output[::-1]}")
        if covers(photo.size, case.output):
            scores.append(psnr_8bit(out, np.asarray(prepare(photo, case.output))))
    return {"seconds": seconds, "cpu": cpu, "load": load_seconds, "psnr": scores, "photos": len(photos),
            "rss_mib": peak_rss_mib()}


def val_photos(folder: Path, split: str) -> list[Path]:
    from hinr.data.folder import read_manifest_split

    return read_manifest_split(folder, split)


def run_table(args, cases: list[Case], photos: list[Path]) -> None:
    missing = opencv_missing(args.opencv_models)
    header = (f"{'case':<12}{'output':>11}{'method':>9}{'wall s':>9}{'CPU s':>9}{'s/photo':>9}"
              f"{'Mpx/s':>9}{'peak RSS MiB':>14}{'PSNR dB':>9}{'PSNR n':>8}  note")
    lines, notes = [header], []
    dashes = "".join(f"{'—':>{width}}" for width in (9, 9, 9, 9, 14, 9, 8))
    for case in cases:
        out_w, out_h = case.output
        for method in args.methods:
            spec = {"case": case.name, "method": method, "threads": args.threads,
                    "weights": args.weights, "photos": [str(p) for p in photos]}
            row = f"{case.name:<12}{f'{out_w}x{out_h}':>11}{method:>9}"
            if method in OPENCV:
                model = opencv_model(args.opencv_models, method, case.scale)
                if missing or model is None:
                    note = missing or f"no {OPENCV[method]}_x{case.scale}.pb in {args.opencv_models}"
                    lines.append(f"{row}{dashes}  skipped: {note}")
                    continue
                spec["model"] = str(model)
            print(f"  {case.name} {method} …", file=sys.stderr, flush=True)
            result = run_worker(__file__, spec, timeout=args.timeout)
            if "error" in result:
                lines.append(f"{row}{dashes}  {result['error']}")
                continue
            n = result["photos"]
            mpx = out_w * out_h * n / 1e6 / result["seconds"]
            scores = result["psnr"]
            psnr = f"{statistics.mean(scores):.3f}" if scores else "—"
            note = f"load {result['load']:.1f} s" if method.startswith("hinr") else ""
            lines.append(f"{row}{result['seconds']:>9.2f}{result['cpu']:>9.2f}"
                         f"{result['seconds'] / n:>9.2f}{mpx:>9.3f}"
                         f"{result['rss_mib']:>14.0f}{psnr:>9}{f'{len(scores)}/{n}':>8}  {note}")
            print(f"    {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    if missing:
        notes.append(f"OpenCV rows skipped: {missing}")
    print(machine("cpu"))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the end")
    print(f"{len(photos)} photo(s): {', '.join(p.name for p in photos)}; weights "
          f"{args.weights or 'shipped'}; precision auto; timeout {args.timeout:.0f} s per worker")
    print("input: each photo's centred 16:9 crop, PIL bicubic to the input size; ground truth: the "
          "same crop, PIL bicubic to the output size (PSNR n: photos whose crop covers the output)")
    print()
    print("\n".join(lines))
    for note in notes:
        print(note)


def profile(args, photo: Path) -> None:
    """torch.profiler over one hinr upscale of a 480×270 input to 1920×1080 (or the top-left
    ``--profile-crop`` fraction of it); prints the top ops by self CPU time and a grouped breakdown."""
    import torch
    from PIL import Image
    from torch.profiler import ProfilerActivity, record_function

    import hinr.models.hinr as hinr_module
    from hinr import load_model
    from hinr.inference.upscale import upscale_image

    model = load_model(args.weights)
    labels = {"encoder": model.encoder, "processor": model.processor, "decoder": model.decoder}

    def labelled(name, fn):
        def call(*a, **k):
            with record_function(f"#{name}"):
                return fn(*a, **k)
        return call

    for name, module in labels.items():
        if module is not None:
            module.forward = labelled(name, module.forward)
    model.decoder.prepare = labelled("decoder.prepare", model.decoder.prepare)
    hinr_module.pil_bicubic = labelled("bicubic base", hinr_module.pil_bicubic)

    rgb = torch.from_numpy(__import__("numpy").asarray(prepare(Image.open(photo).convert("RGB"),
                                                                (480, 270))).copy())
    rgb = rgb.permute(2, 0, 1).float() / 255
    h, w = round(270 * args.profile_crop), round(480 * args.profile_crop)
    rgb = rgb[:, :h, :w]
    size = (h * 4, w * 4)
    upscale_image(model, rgb[:, :40, :40], (160, 160), precision="auto")  # warm-up
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        upscale_image(model, rgb, size, precision="auto")
        seconds = time.perf_counter() - start
    print(machine("cpu"))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(f"profile: hinr upscale of {photo.name} {w}x{h} → {size[1]}x{size[0]} (×4), weights "
          f"{args.weights or 'shipped'}, precision auto: {seconds:.1f} s under the profiler")
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_top))
    regions, kinds, ops = {}, {}, {}
    total = 0.0
    for event in prof.events():
        self_us = event.self_cpu_time_total
        if self_us <= 0:
            continue
        region, parent = "outside the model (tiling, blend, copies)", event.cpu_parent
        if event.name.startswith("#"):  # a label's own time: the Python between the ops it holds
            region = event.name[1:]
        while parent is not None and not event.name.startswith("#"):
            if parent.name.startswith("#"):
                region = parent.name[1:]
                break
            parent = parent.cpu_parent
        kind = "python between ops" if event.name.startswith("#") else op_kind(event.name)
        regions[region] = regions.get(region, 0.0) + self_us
        kinds[kind] = kinds.get(kind, 0.0) + self_us
        ops.setdefault(region, {})
        ops[region][event.name] = ops[region].get(event.name, 0.0) + self_us
        total += self_us
    for title, table in (("by model part (self CPU time of the ops inside)", regions),
                         ("by op kind (self CPU time)", kinds)):
        print(title)
        for name, us in sorted(table.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<48}{us / 1e6:>9.2f} s{100 * us / total:>7.1f} %")
        print()
    print("top ops of each model part (self CPU time, % of all)")
    for region, _ in sorted(regions.items(), key=lambda kv: -kv[1]):
        top = sorted(ops[region].items(), key=lambda kv: -kv[1])[:6]
        print(f"  {region}: " + ", ".join(f"{name.removeprefix('aten::')} {100 * us / total:.1f} %"
                                          for name, us in top))


def op_kind(name: str) -> str:
    """Group an aten op name into a coarse kind for the breakdown."""
    n = name.removeprefix("aten::")
    if "attention" in n or n in {"softmax", "_softmax", "_safe_softmax", "log_softmax"}:
        return "attention (sdpa, softmax)"
    if n in {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "einsum", "_mkl_linear",
             "mkldnn_linear", "conv1d", "convolution", "_convolution", "mkldnn_convolution"}:
        return "matmuls / convolutions"
    if n in {"index_select", "gather", "index", "take", "take_along_dim", "grid_sample",
             "embedding", "index_put_", "scatter", "scatter_add_", "_index_put_impl_"}:
        return "gathers / index (bicubic taps, local read-out)"
    if n in {"select", "slice", "view", "reshape", "permute", "expand", "unsqueeze", "squeeze",
             "as_strided", "transpose", "t", "unbind", "split", "chunk", "narrow", "flatten",
             "unflatten", "_unsafe_view", "alias", "detach", "lift_fresh", "expand_as", "view_as"}:
        return "views / reshapes (no data moved)"
    if n in {"copy_", "to", "_to_copy", "contiguous", "clone", "cat", "stack", "empty_like",
             "zeros", "empty", "empty_strided", "fill_", "zero_", "full", "resize_", "new_zeros"}:
        return "copies / allocation"
    if n in {"cumsum", "exp", "exp_", "softplus", "logcumsumexp", "flip", "cumprod"}:
        return "scan-type (cumsum, exp, softplus, flip)"
    if n in {"layer_norm", "native_layer_norm", "gelu", "silu", "mul", "add", "sub", "div", "mul_",
             "add_", "sub_", "div_", "neg", "sigmoid", "sin", "cos", "floor", "clamp", "clamp_",
             "abs", "pow", "sqrt", "rsqrt", "where", "sum", "mean", "addcmul_", "lerp",
             "gelu_", "silu_", "sigmoid_", "relu", "relu_", "addcmul", "square", "sin_", "cos_"}:
        return "elementwise / norms / reductions"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--split", default="val")
    parser.add_argument("--photo", type=Path, action="append",
                        help="benchmark this photo instead of the split (repeatable)")
    parser.add_argument("--limit", type=int, default=1,
                        help="the first N photos of the split (default 1: the current model takes "
                             "minutes a photo; 0 for all)")
    parser.add_argument("--cases", nargs="+", type=Case.parse, default=list(CASES),
                        help=f"WxHxS (default: {' '.join(c.name for c in CASES)})")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--weights", default=None, help="hinr weights (default: the shipped model)")
    parser.add_argument("--opencv-models", default=None,
                        help="folder with FSRCNN_x2.pb, FSRCNN_x4.pb, ESPCN_x2.pb, … LapSRN_x4.pb")
    parser.add_argument("--timeout", type=float, default=240,
                        help="seconds per worker (case, method); a worker past it gives a 'timed out' row")
    parser.add_argument("--quick", action="store_true", help="smoke run: one photo, 480x270x2 only")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the table: torch.profiler over one 480×270 → 1920×1080 upscale")
    parser.add_argument("--profile-crop", type=float, default=1.0,
                        help="profile only this fraction of the input's width and height")
    parser.add_argument("--profile-top", type=int, default=20, help="ops listed by the profile")
    args = parse_args(parser, worker)
    if args is None:
        return
    args.threads = args.threads or 2  # harness leaves it to torch; this benchmark pins 2 by default
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the workers inherit it
    if args.weights:
        args.weights = str(Path(args.weights).resolve()) if Path(args.weights).exists() else args.weights
    photos = args.photo or val_photos(args.data, args.split)[:args.limit or None]
    missing = [p for p in photos if not p.is_file()]
    if missing:
        parser.error(f"no photo {missing[0]}")
    if args.profile:
        import torch

        torch.set_num_threads(args.threads)
        profile(args, photos[0])
        return
    if args.quick:
        photos, args.cases = photos[:1], [Case(480, 270, 2)]
    run_table(args, args.cases, photos)


if __name__ == "__main__":
    main()
