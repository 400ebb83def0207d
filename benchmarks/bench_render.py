"""Inference benchmarks of the shipped weights: peak memory of a 1024×1024 render, and the wall time
of ``hinr upscale`` 32→256 split into start-up (interpreter, imports, weight loading) and compute.

Each measurement runs in a fresh subprocess, so peak RSS (``ru_maxrss``) is that of the run alone
and start-up includes every import. Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_render.py [--weights W] [--res 1024] [--repeats 3]

Prints a table (and the machine) on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "astronaut_32.png"

# Renders one latent at RES×RES and reports the process' resident memory before and at its peak.
RENDER = r"""
import json, resource, sys, time
import torch
from hinr.store.checkpoint import load_model
from hinr.io.images import load_image
from hinr.precision import resolve_precision
from hinr.inference.upscale import DEFAULT_CHUNK, encode_images, render_latents
from hinr.store.shipped import resolve_weights

weights, res, example = sys.argv[1] or None, int(sys.argv[2]), sys.argv[3]
model = load_model(resolve_weights(weights))
latents = encode_images(model, load_image(example).rgb.unsqueeze(0))
def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = rss_mib()
start = time.perf_counter()
precision = resolve_precision("auto", "cpu")  # what the CLI's default picks here
image = render_latents(model, latents, res, res, chunk=DEFAULT_CHUNK, precision=precision)
seconds = time.perf_counter() - start
print(json.dumps(dict(before_mib=before, peak_mib=rss_mib(), seconds=seconds, chunk=DEFAULT_CHUNK,
                      shape=list(image.shape), precision=precision)))
"""

# Runs the real CLI in-process, timing imports, weight loading and the command's compute apart.
UPSCALE = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from hinr.cli.app import app
from hinr.store.checkpoint import load_model
from hinr.io.images import load_image, save_image
from hinr.precision import resolve_precision
from hinr.inference.upscale import upscale_image
from hinr.store.shipped import resolve_weights
t1 = time.perf_counter()
weights, example, out = sys.argv[1] or None, sys.argv[2], sys.argv[3]
model = load_model(resolve_weights(weights))
t2 = time.perf_counter()
image = load_image(example)
save_image(out, upscale_image(model, image.rgb, (256, 256), precision=resolve_precision("auto", "cpu")))
t3 = time.perf_counter()
print(json.dumps(dict(imports=t1 - t0, load=t2 - t1, compute=t3 - t2)))
"""


def _python(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter: its JSON report plus the process' wall time."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "wall": time.perf_counter() - start}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="", help="default: the shipped weights")
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="upscale runs (the best is kept)")
    args = parser.parse_args()

    import torch

    print(f"machine: {platform.machine()} {platform.processor() or ''} | {os.cpu_count()} CPUs | "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} | Python "
          f"{platform.python_version()} | torch {torch.__version__}")
    render = _python(RENDER, args.weights, str(args.res), str(EXAMPLE))
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "up.png")
        cli = [sys.executable, "-m", "hinr.cli.app", "upscale", str(EXAMPLE), "--size", "256", "-o", out,
               "--overwrite"] + (["--weights", args.weights] if args.weights else [])
        runs = [_python(UPSCALE, args.weights, str(EXAMPLE), out) for _ in range(args.repeats)]
        walls = [_wall(cli) for _ in range(args.repeats)]
        help_wall = min(_wall([sys.executable, "-m", "hinr.cli.app", "--help"]) for _ in range(args.repeats))
        help_torch = _python("import json, sys, hinr.cli.app; print(json.dumps({'torch': 'torch' in sys.modules}))")
    best = min(runs, key=lambda r: r["wall"])
    rest = best["wall"] - best["imports"] - best["load"] - best["compute"]
    rows = [
        (f"render {args.res}×{args.res}: peak RSS", f"{render['peak_mib']:.0f} MiB",
         f"{render['before_mib']:.0f} MiB before rendering; chunk {render['chunk']}; "
         f"{render['precision']}; {render['seconds']:.1f} s"),
        ("upscale 32→256: process wall", f"{best['wall']:.2f} s", f"best of {args.repeats}, split below"),
        ("  start-up: interpreter, exit", f"{rest:.2f} s", "wall − the three below"),
        ("  start-up: imports", f"{best['imports']:.2f} s", "torch, hinr.cli.app, hinr.inference.upscale, …"),
        ("  start-up: weight loading", f"{best['load']:.2f} s", "resolve + strict safetensors load"),
        ("  compute", f"{best['compute']:.2f} s",
         f"read image, encode, render 65 536 px ({render['precision']}, as --precision auto), save"),
        ("`hinr upscale` CLI wall", f"{min(walls):.2f} s", f"best of {args.repeats}, the real command"),
        ("`hinr --help` wall", f"{help_wall:.2f} s",
         "imports torch (hinr/__init__.py imports it eagerly)" if help_torch["torch"] else "no torch import"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    main()
