"""What the benchmark scripts share: the machine line every table opens with, and running one
configuration in a fresh interpreter (so peak memory and warm caches don't leak between runs)."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(device: str) -> str:
    """One line: CPU model, torch version, threads, and the GPU (with TF32 state) on CUDA."""
    import torch

    line = f"cpu {cpu_model()} | torch {torch.__version__} | threads {torch.get_num_threads()}"
    if device.startswith("cuda"):
        line += (f" | {torch.cuda.get_device_name(device)} | TF32 matmul "
                 f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}")
    return line


def run_worker(script: str, spec: dict, timeout: float) -> dict:
    """``script --worker SPEC`` in a fresh interpreter; its last stdout line is the JSON result.
    An error or a time-out becomes {"error": ...}."""
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", json.dumps(spec)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_args(parser: argparse.ArgumentParser, worker: Callable[[dict], dict] | None = None):
    """Add --threads (and --worker when the script runs configurations through ``run_worker``),
    parse, and set torch's threads. In a worker process, run ``worker(spec)``, print its JSON
    result and return None: the caller returns at once."""
    parser.add_argument("--threads", type=int, default=None, help="default: torch's (OMP_NUM_THREADS)")
    if worker is not None:
        parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if worker is not None and args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args
