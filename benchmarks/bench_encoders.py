"""Time and peak memory of three token encoders as the token count L grows, and the fitted exponent
of time against L: hinr's BiMamba stack (MAMBA-GINR), SCENT's cascaded Perceiver, and a plain
self-attention transformer.

A script run by hand, not a test. All three run at one width D on batch 1 of random tokens:

- ``bimamba``:     BiMambaBlocks as in ``MambaEncoder`` (LN → BiMamba, LN → MLP 4·D), on (1, L, D);
- ``perceiver``:   cascaded ``PerceiverBlock``s encoding (1, L, 3 + 2F) pixel tokens (RGB ⊕ Fourier
                   features) into the fixed 256 latents;
- ``transformer``: pre-norm self-attention + GEGLU blocks (the processor's ``SelfAttentionBlock``,
                   hinr's ``Attention`` and ``FeedForward``) on (1, L, D).

Each (encoder, L) runs in a fresh subprocess: it times the forward (under ``no_grad``) and the
forward + backward, and reads the peak memory above the process' footprint after building the
model and inputs (``ru_maxrss`` on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA). The
exponent k of time ∝ L^k is a least-squares fit on log-log over all L; the design claims BiMamba
is linear (k ≤ 1.1). The last-pair column is the local slope between the two largest L, where
fixed per-call costs matter least.

    OMP_NUM_THREADS=2 python benchmarks/bench_encoders.py
    python benchmarks/bench_encoders.py --lengths 512 1024 2048 4096 --depth 1 --repeats 2
    python benchmarks/bench_encoders.py --device cuda
    python benchmarks/bench_encoders.py --quick        # seconds: a smoke run at tiny sizes
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, parse_args, run_worker  # noqa: E402

ENCODERS = ("bimamba", "perceiver", "transformer")
LINEAR_TARGET = 1.1  # the design's claim for BiMamba: time grows at most like L^1.1


def build(name: str, *, dim: int, depth: int, heads: int, dim_head: int, latents: int,
          pixel_features: int, length: int, seed: int, device: str):
    """The encoder ``name`` and its random input (1, L, D) or (1, L, 3 + 2F) on ``device``."""
    import torch
    from torch import nn

    from hinr.models.mamba_encoder import BiMambaBlock
    from hinr.models.perceiver_encoder import PerceiverBlock
    from hinr.models.processor import SelfAttentionBlock

    class PerceiverStack(nn.Module):
        """The cascade of ``PerceiverEncoder`` over given pixel tokens (any L, not only S²)."""

        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(
                PerceiverBlock(dim=dim, context_dim=3 + 2 * pixel_features, num_latents=latents,
                               heads=heads, dim_head=dim_head, ff_mult=4, cascade=i > 0)
                for i in range(depth))
            self.norm = nn.LayerNorm(dim)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            """pixels (B, L, 3 + 2F) → latents (B, M, D)."""
            out = None
            for block in self.blocks:
                out = block(pixels, out)
            return self.norm(out)

    torch.manual_seed(seed)
    if name == "bimamba":
        model = nn.Sequential(*(BiMambaBlock(dim=dim, mlp_ratio=4.0, merge="mean", d_state=16,
                                             d_conv=4, expand=2) for _ in range(depth)),
                              nn.LayerNorm(dim))
        x = torch.randn(1, length, dim)
    elif name == "perceiver":
        model = PerceiverStack()
        x = torch.randn(1, length, 3 + 2 * pixel_features)
    elif name == "transformer":
        model = nn.Sequential(*(SelfAttentionBlock(dim=dim, heads=heads, dim_head=dim_head, ff_mult=4)
                                for _ in range(depth)),
                              nn.LayerNorm(dim))
        x = torch.randn(1, length, dim)
    else:
        raise ValueError(f"unknown encoder {name!r}; choose from {ENCODERS}")
    return model.to(device), x.to(device)


def worker(spec: dict) -> dict:
    """Runs in a fresh process: times and measures one (encoder, L); returns the numbers."""
    import torch
    from hinr.precision import autocast as precision_context, resolve_precision

    torch.set_num_threads(spec["threads"])
    device = spec["device"]
    cuda = device.startswith("cuda")
    model, x = build(spec["encoder"], dim=spec["dim"], depth=spec["depth"], heads=spec["heads"],
                     dim_head=spec["dim_head"], latents=spec["latents"],
                     pixel_features=spec["pixel_features"], length=spec["length"],
                     seed=spec["seed"], device=device)
    autocast = precision_context(resolve_precision(spec["precision"], device), device)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def rss_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def forward() -> None:
        with torch.no_grad(), autocast:
            model(x)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        with autocast:
            out = model(x)
        out.float().square().mean().backward()

    sync()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else rss_mib()  # model and inputs

    def measure(step) -> tuple[list[float], float]:
        """Times of the repeats (after warm-up) and the peak memory in MiB above ``base``."""
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for i in range(spec["warmup"] + spec["repeats"]):
            sync()
            start = time.perf_counter()
            step()
            sync()
            if i >= spec["warmup"]:
                times.append(time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else rss_mib()
        return times, peak - base

    # the forward's peak is below the backward's, so measuring it first keeps ru_maxrss honest
    fwd, fwd_mib = measure(forward)
    fb, fb_mib = measure(forward_backward)
    return dict(fwd_s=statistics.median(fwd), fb_s=statistics.median(fb), fwd_mib=fwd_mib,
                fb_mib=fb_mib, params=sum(p.numel() for p in model.parameters()))


def fit_exponent(lengths: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(L)."""
    xs = [math.log(n) for n in lengths]
    ys = [math.log(s) for s in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", choices=ENCODERS, default=list(ENCODERS))
    parser.add_argument("--lengths", nargs="+", type=int, default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--dim", type=int, default=128, help="width D of every encoder")
    parser.add_argument("--depth", type=int, default=2, help="blocks of each encoder")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim-head", type=int, default=32)
    parser.add_argument("--latents", type=int, default=256, help="the Perceiver's latents")
    parser.add_argument("--pixel-features", type=int, default=96,
                        help="Fourier frequencies of the Perceiver's pixel tokens (3 + 2F dims)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: autocast (the Mamba scan itself stays fp32)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is kept")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per (encoder, L)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one repeat")
    args = parse_args(parser, worker)
    if args is None:
        return
    if args.quick:
        args.lengths, args.dim, args.depth, args.heads, args.dim_head = [64, 128], 32, 1, 2, 16
        args.latents, args.pixel_features, args.warmup, args.repeats = 16, 8, 0, 1
    import torch

    threads = torch.get_num_threads()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch sees no CUDA device")

    lengths = sorted(args.lengths)
    results: dict[str, dict[int, dict]] = {}
    for name in args.encoders:
        results[name] = {}
        for length in lengths:
            spec = dict(encoder=name, length=length, dim=args.dim, depth=args.depth,
                        heads=args.heads, dim_head=args.dim_head, latents=args.latents,
                        pixel_features=args.pixel_features, precision=args.precision,
                        device=args.device, threads=threads, warmup=args.warmup,
                        repeats=args.repeats, seed=args.seed)
            r = results[name][length] = run_worker(__file__, spec, args.timeout)
            done = r.get("error") or f"fwd {r['fwd_s']:.3f} s, fwd+bwd {r['fb_s']:.3f} s"
            print(f"  {name} L={length}: {done}", file=sys.stderr, flush=True)

    print(machine(args.device))
    print(f"width {args.dim}  depth {args.depth}  heads {args.heads}×{args.dim_head}  batch 1  "
          f"{args.precision}  median of {args.repeats} after {args.warmup} warm-up; Perceiver: "
          f"{args.latents} latents, pixel tokens 3 + 2·{args.pixel_features}")
    mem = "peak MiB" if not args.device.startswith("cuda") else "peak MiB (CUDA)"
    print()
    print(f"{'encoder':<12}{'L':>7}{'fwd ms':>11}{'fwd+bwd ms':>12}{'fwd ' + mem:>16}"
          f"{'f+b ' + mem:>16}")
    for name, rows in results.items():
        for length, r in rows.items():
            if "error" in r:
                print(f"{name:<12}{length:>7}  failed: {r['error']}")
                continue
            print(f"{name:<12}{length:>7}{r['fwd_s'] * 1e3:>11.1f}{r['fb_s'] * 1e3:>12.1f}"
                  f"{r['fwd_mib']:>16.1f}{r['fb_mib']:>16.1f}")
    print()
    print(f"{'exponent k (time ∝ L^k)':<26}{'fwd fit':>9}{'f+b fit':>9}{'fwd last':>10}{'f+b last':>10}")
    for name, rows in results.items():
        ok = [(n, r) for n, r in rows.items() if "error" not in r]
        if len(ok) < 2:
            print(f"{name:<26}  needs two lengths that ran")
            continue
        ns = [n for n, _ in ok]
        cells = []
        for key in ("fwd_s", "fb_s"):
            cells.append(fit_exponent(ns, [r[key] for _, r in ok]))
        for key in ("fwd_s", "fb_s"):
            cells.append(fit_exponent(ns[-2:], [r[key] for _, r in ok[-2:]]))
        note = ""
        if name == "bimamba":
            note = "  linear (≤ %.1f)" % LINEAR_TARGET if max(cells[:2]) <= LINEAR_TARGET else \
                "  NOT linear: fit > %.1f" % LINEAR_TARGET
        print(f"{name:<26}" + "".join(f"{c:>{w}.2f}" for c, w in zip(cells, (9, 9, 10, 10))) + note)


if __name__ == "__main__":
    main()
