"""A 480×270 → 1920×1080 `hinr upscale` alone, beside a busy single-thread Python loop, and beside a
2-thread torch job, in one run; each case with hinr's own OpenMP wait policy (passive, the
default) and with the spinning one OpenMP uses by default (`OMP_WAIT_POLICY=ACTIVE`).

    python benchmarks/bench_under_load.py                 # ~2-4 min on 2 cores
    python benchmarks/bench_under_load.py --quick         # a smoke run at 64×36 → 256×144

The target (the first-day issue): beside either load, ≤ 2× the quiet time; quiet within 5 % of the
spinning policy's quiet time. The table: seconds per case (best of --repeats), and the ratio to
the quiet time of the same policy.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSY_PYTHON = "while True: pass"
BUSY_TORCH = ("import torch; torch.set_num_threads(2); a = torch.randn(512, 512)\n"
              "while True: a = (a @ a).tanh()")


def upscale_seconds(src: Path, out: Path, size: str, env: dict) -> float:
    start = time.perf_counter()
    hinr = Path(sys.executable).with_name("hinr")  # the console script beside this Python
    subprocess.run([str(hinr), "upscale", str(src), "--size", size, "-o", str(out),
                    "--overwrite"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a smoke run at tiny sizes")
    args = parser.parse_args()
    from PIL import Image

    side, size = ((64, 36), "256x144") if args.quick else ((480, 270), "1920x1080")
    repeats = 1 if args.quick else args.repeats
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.png", Path(tmp) / "out.png"
        Image.open(root / "examples" / "astronaut_32.png").convert("RGB").resize(side, Image.BICUBIC).save(src)
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
        print("| policy | load | seconds | × quiet |")
        print("|---|---|---:|---:|")
        for policy in ("PASSIVE", "ACTIVE"):
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if policy == "ACTIVE":
                env["OMP_WAIT_POLICY"] = "ACTIVE"
            quiet = None
            for load, code in (("none", None), ("busy Python loop", BUSY_PYTHON), ("2-thread torch job", BUSY_TORCH)):
                job = None if code is None else subprocess.Popen([sys.executable, "-c", code])
                try:
                    time.sleep(0 if job is None else 2)  # let the load start
                    seconds = min(upscale_seconds(src, out, size, env) for _ in range(repeats))
                finally:
                    if job is not None:
                        job.kill()
                        job.wait()
                quiet = quiet or seconds
                print(f"| {policy.lower()} | {load} | {seconds:.2f} | {seconds / quiet:.2f} |", flush=True)


if __name__ == "__main__":
    main()
