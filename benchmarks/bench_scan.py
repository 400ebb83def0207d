"""Time forward + backward of `selective_scan_fast` against `selective_scan_ref` on the CPU.

A script run by hand, not a test. Follows the mamba_ssm habit of measuring the fast path against
the reference it must match; defaults are the size of one BiMamba direction in hinr.

    python benchmarks/bench_scan.py                  # L=512, d_inner=512, d_state=16, batch 8
    python benchmarks/bench_scan.py --repeats 3 --skip-ref
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hinr.layers.scan import selective_scan_fast, selective_scan_ref  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cpu_model  # noqa: E402


def make_inputs(*, batch: int, d_inner: int, d_state: int, length: int, seed: int):
    """Random scan inputs shaped as a Mamba layer makes them, all requiring grad."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    return dict(
        u=randn(batch, d_inner, length).requires_grad_(),
        delta=(0.5 * randn(batch, d_inner, length)).requires_grad_(),
        A=-torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1).requires_grad_(),
        B=randn(batch, d_state, length).requires_grad_(),
        C=randn(batch, d_state, length).requires_grad_(),
        D=torch.ones(d_inner).requires_grad_(),
        z=randn(batch, d_inner, length).requires_grad_(),
        delta_bias=(0.1 * randn(d_inner)).requires_grad_(),
    )


def time_fwd_bwd(scan, inputs: dict, *, repeats: int, warmup: int) -> list[float]:
    """Seconds for each of `repeats` forward + backward passes, after `warmup` untimed ones."""
    times = []
    for i in range(warmup + repeats):
        for t in inputs.values():
            t.grad = None
        start = time.perf_counter()
        y = scan(**inputs, delta_softplus=True)
        y.sum().backward()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--d-inner", type=int, default=512)
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of the reference")
    parser.add_argument("--fast-repeats", type=int, default=10, help="timed runs of the fast scan")
    parser.add_argument("--skip-ref", action="store_true", help="time the fast scan only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    inputs = make_inputs(
        batch=args.batch, d_inner=args.d_inner, d_state=args.d_state, length=args.length,
        seed=args.seed,
    )
    fast = time_fwd_bwd(selective_scan_fast, inputs, repeats=args.fast_repeats, warmup=2)
    ref = None
    if not args.skip_ref:
        ref = time_fwd_bwd(selective_scan_ref, inputs, repeats=args.repeats, warmup=0)

    print(f"cpu      {cpu_model()}")
    print(f"torch    {torch.__version__}   threads {torch.get_num_threads()}   float32")
    print(f"sizes    batch {args.batch}  d_inner {args.d_inner}  d_state {args.d_state}  "
          f"L {args.length}   (forward + backward)")
    print()
    print(f"{'scan':<8}{'median s':>12}{'min s':>12}{'runs':>6}")
    rows = [("fast", fast)] + ([("ref", ref)] if ref else [])
    for name, times in rows:
        print(f"{name:<8}{statistics.median(times):>12.4f}{min(times):>12.4f}{len(times):>6}")
    if ref:
        print(f"\nspeed-up (ref median / fast median): "
              f"{statistics.median(ref) / statistics.median(fast):.1f}x")


if __name__ == "__main__":
    main()
