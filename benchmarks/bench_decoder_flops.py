"""Rendering throughput of each preset, and the decoder's achieved FLOP rate against this machine's
measured matmul peak.

A script run by hand, not a test. For each preset (hybrid architecture), with the decoder options
off and on (``residual``, ``locality``, ``cell_input``, ``local_pixels=4`` together), in fp32 and
under bf16 autocast, a fresh subprocess measures:

- pixels/s of rendering 256² and 1024² through ``hinr.inference.upscale.render_latents`` (the CLI's path,
  chunk 16384, output gathered on the CPU), from a random-weight model and a random 32×32 input;
- the peak memory of the largest render, above the footprint after building and encoding
  (``ru_maxrss`` on the CPU, ``torch.cuda.max_memory_allocated`` on CUDA);
- GFLOP/s of ``HINR.decode`` alone on one large chunk of queries with the keys and values
  prepared, against the peak of a big square matmul in the same precision measured first.

Decoder FLOPs per query, counted analytically from the config (matmuls only, 2 per multiply-add;
the per-image keys/values of ``prepare`` and elementwise work left out). W = decoder_dim,
F = fourier_features, I = decoder_heads · decoder_dim_head, M = num_latents, d = decoder_depth,
m = decoder_ff_mult, E = the options' extra inputs (2·locality + 2·cell_input + 3k² + 2 for
local_pixels = k > 0):

    fourier      2·2·F                            coords (2) @ B (2, F)
    query proj   2·(2F + E)·W                     only when 2F + E ≠ W
    cross-attn   2·W·I + 2·M·I + 2·M·I + 2·I·W    to_q, q·kᵀ, softmax·v, to_out
    feed-fwds    d · 6·m·W²                       W → 2·m·W (GEGLU), m·W → W
    to_rgb       2·W·3

    MFLOP/query:  base 20.45 (21.03 with the options)   small 3.41 (3.57)   tiny 0.30 (0.34)

``torch.utils.flop_counter.FlopCounterMode`` on the timed chunk cross-checks it (the CPU flash-
attention kernel is registered with it here: torch's counter does not know it).

    OMP_NUM_THREADS=2 python benchmarks/bench_decoder_flops.py
    python benchmarks/bench_decoder_flops.py --presets tiny small --res 256 --precisions fp32
    python benchmarks/bench_decoder_flops.py --device cuda
    python benchmarks/bench_decoder_flops.py --quick        # seconds: a smoke run
    python benchmarks/bench_decoder_flops.py --macs         # multiply-adds per output pixel

``--macs`` counts, with ``FlopCounterMode`` (matmuls, 2 FLOPs per multiply-add), the decoder's
multiply-adds per output pixel of the read-outs that matter for speed — the shipped default's
LIIF MLP, hybrid-v2's, and hybrid-v3's local SCENT decoder (the models issue's bar: ≤ 20 k) —
per query on a chunk with the per-image context prepared, and the per-latent work of
``prepare`` shared out over the pixels of a ×4 upscale, beside the analytic count for v3.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, parse_args, run_worker  # noqa: E402

OPTIONS = dict(residual=True, locality=True, cell_input=True, local_pixels=4)


def decoder_flops_per_query(config) -> int:
    """Matmul FLOPs of one query through the SCENT decoder (formula in the module docstring)."""
    c = config
    if c.arch == "mamba-ginr":
        raise ValueError("the formula covers the SCENT decoder (hybrid, scent), not LAINR's")
    if c.decoder_self_attn:
        raise ValueError("query self-attention makes a query's cost depend on Q; not counted")
    w, f, m = c.decoder_dim, c.fourier_features, c.num_latents
    inner = c.decoder_heads * c.decoder_dim_head
    from hinr.models.query_extras import QueryExtras

    extra = QueryExtras(image_size=c.image_size, latent_grid=c.latent_grid, locality=c.locality,
                        cell_input=c.cell_input, local_pixels=c.local_pixels).out_dim
    flops = 2 * 2 * f
    if 2 * f + extra != w:
        flops += 2 * (2 * f + extra) * w
    flops += 2 * w * inner + 4 * m * inner + 2 * inner * w
    flops += c.decoder_depth * 6 * c.decoder_ff_mult * w * w
    return flops + 2 * w * 3


def count_flops(fn: Callable[[], object]) -> int:
    """Matmul FLOPs that ``fn()`` runs, by ``FlopCounterMode``, CPU flash attention included."""
    import torch
    from torch.utils import flop_counter

    aten = torch.ops.aten
    mapping = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        def sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
            return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

        def sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args,
                          out_shape=None, **kwargs):
            return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape,
                                                         value_shape)

        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = sdpa
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = sdpa_backward
    with flop_counter.FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(dtype_name: str, device: str, *, max_n: int, seconds: float = 1.0) -> dict:
    """GFLOP/s of an n×n @ n×n matmul, n doubled from 512 until one product takes ≥ 50 ms or
    reaches ``max_n``; the median over about ``seconds`` of products, after a warm-up."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    gen = torch.Generator(device=device).manual_seed(0)
    n = 512
    while True:
        a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        a @ b
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        once = time.perf_counter() - start
        if once >= 0.05 or n >= max_n:
            break
        n *= 2
    times = []
    for _ in range(max(3, min(50, int(seconds / max(once, 1e-6))))):
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return dict(gflops=2 * n**3 / statistics.median(times) / 1e9, n=n)


def worker(spec: dict) -> dict:
    """Runs in a fresh process: renders, memory and decoder GFLOP/s for one configuration."""
    import torch
    from hinr.precision import autocast as precision_context, resolve_precision

    import hinr
    from hinr.coords import cell_size
    from hinr.inference.upscale import encode_images, render_latents

    torch.set_num_threads(spec["threads"])
    device = spec["device"]
    cuda = device.startswith("cuda")
    torch.manual_seed(spec["seed"])
    config = hinr.preset(spec["preset"], **(OPTIONS if spec["options"] else {}))
    model = hinr.HINR(config).to(device).eval()
    autocast = precision_context(resolve_precision(spec["precision"], device), device)
    with autocast:
        latents = encode_images(model, torch.rand(1, 3, 32, 32))

    def rss_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def render(res: int) -> float:
        sync(device)
        start = time.perf_counter()
        with autocast:
            render_latents(model, latents, res, res, chunk=spec["chunk"])
        sync(device)
        return time.perf_counter() - start

    render(64)  # warm-up: first-call allocations and kernel selection stay out of the numbers
    sync(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2**20 if cuda else rss_mib()
    out: dict = {"flops_per_query": decoder_flops_per_query(config), "render": {}}
    for res in sorted(spec["res"]):
        times = [render(res)]
        while len(times) < spec["repeats"] and sum(times) < 2.0:  # repeat only the quick ones
            times.append(render(res))
        out["render"][str(res)] = res * res / statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else rss_mib()
    out.update(peak_mib=peak - base, peak_res=max(spec["res"]))

    # the decoder alone on one large chunk, keys and values prepared once
    q = spec["flop_chunk"]
    coords = torch.rand(q, 2, generator=torch.Generator().manual_seed(1)).to(device)
    cell = cell_size(1024, 1024, device=device)
    lat = latents.to(device)
    with torch.no_grad(), autocast:
        context = model.prepare(lat)

        def decode():
            return model.decode(lat, coords, cell, context=context)

        decode()
        out["counted_flops_per_query"] = count_flops(decode) / q
        times = []
        for _ in range(spec["repeats"]):
            sync(device)
            start = time.perf_counter()
            decode()
            sync(device)
            times.append(time.perf_counter() - start)
    out["decode_gflops"] = out["flops_per_query"] * q / statistics.median(times) / 1e9
    return out


MACS_MODELS = {  # name → (arch, preset, overrides)
    "default (liif 8 × 64, MLP 128 × 3)": ("liif", "tiny", dict(dim=64, encoder_depth=8, decoder_depth=3,
                                                                base_skip=True)),
    "hybrid-v2 (shipped hybrid)": ("hybrid-v2", "tiny", dict(
        dim=64, stem_depth=8, encoder_depth=2, encoder_mlp_ratio=2.0, num_latents=64, processor_depth=1,
        heads=4, dim_head=16, ff_mult=2, decoder_dim=128, decoder_depth=3, decoder_heads=2,
        decoder_dim_head=16, fourier_features=32, base_skip=True)),
    "hybrid-v3 small": ("hybrid-v3", "small", {}),
    "hybrid-v3 small, modulate": ("hybrid-v3", "small", dict(modulate=True)),
    "hybrid-v3 small, modulate + pixel_kv": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True)),
    "hybrid-v3 small, + neighbourhood 4": ("hybrid-v3", "small", dict(modulate=True, pixel_kv=True,
                                                                      neighbourhood=4)),
    "hybrid-v3 small, + pixel_head 2 × 48": ("hybrid-v3", "small", dict(
        modulate=True, pixel_kv=True, pixel_head=2, pixel_dim=48)),
}


def count_macs(arch: str, preset_name: str, overrides: dict, *, queries: int = 4096, scale: int = 4) -> dict:
    """Multiply-adds per output pixel: the decoder per query, and ``prepare`` per latent shared
    over the scale² output pixels of each input pixel (FlopCounterMode, matmuls)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import hinr
    from hinr.config import preset

    model = hinr.HINR(preset(preset_name, arch=arch, **overrides)).eval()
    side = 32
    images = torch.rand(1, 3, side, side)
    coords, cell = torch.rand(1, queries, 2), torch.full((1, queries, 2), 1 / (side * scale))
    with torch.no_grad():
        latents = model.encode(images)
        counter = FlopCounterMode(display=False)
        with counter:
            context = model.prepare(latents)
        prepare = counter.get_total_flops() / 2 / (side * side * scale * scale)
        counter = FlopCounterMode(display=False)
        with counter:
            model.decode(latents, coords, cell, context=context)
        per_query = counter.get_total_flops() / 2 / queries
    row = {"decoder_per_pixel": round(per_query), "prepare_per_pixel_x4": round(prepare)}
    if arch == "hybrid-v3":
        from hinr.models.hybrid_v3 import _decoder_macs

        row["analytic"] = _decoder_macs(model.config)
    return row


def main_macs() -> None:
    print("| read-out | multiply-adds per output pixel (decoder) | + prepare, shared at ×4 | analytic |")
    print("|---|---:|---:|---:|")
    from long_run import LONG, V3UC  # the v3 settings, declared once with their runs

    rows = {**MACS_MODELS, "hybrid-v3 small, cell_offsets (pilot-v3u-cellpos)": ("hybrid-v3", "small", V3UC),
            "hybrid-v3 small, the long run (long-v3uc-stem8)": LONG["long-v3uc-stem8"][:3]}
    for name, (arch, size, overrides) in rows.items():
        r = count_macs(arch, size, overrides)
        print(f"| {name} | {r['decoder_per_pixel']:,} | {r['prepare_per_pixel_x4']:,} | {r.get('analytic', '')} |")


def main() -> None:
    if "--macs" in sys.argv[1:]:
        return main_macs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--variants", nargs="+", choices=("plain", "options"),
                        default=["plain", "options"],
                        help="options: residual + locality + cell_input + local_pixels=4")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--res", nargs="+", type=int, default=[256, 1024],
                        help="square render sides; peak memory is that of the largest")
    parser.add_argument("--chunk", type=int, default=16384, help="render chunk (the CLI's default)")
    parser.add_argument("--flop-chunk", type=int, default=None,
                        help="queries of the timed decode (default 16384 on CPU, 262144 on CUDA)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (renders over 2 s: one)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny preset, small sizes")
    args = parse_args(parser, worker)
    if args is None:
        return
    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch sees no CUDA device")
    flop_chunk = args.flop_chunk or (262144 if cuda else 16384)
    max_n = 16384 if cuda else 4096
    if args.quick:
        args.presets, args.res, args.repeats, flop_chunk, max_n = ["tiny"], [64, 128], 1, 1024, 512

    peaks = {p: matmul_peak(p, args.device, max_n=max_n) for p in args.precisions}
    rows = []
    for name in args.presets:
        for variant in args.variants:
            for precision in args.precisions:
                spec = dict(preset=name, options=variant == "options", precision=precision,
                            res=args.res, chunk=args.chunk, flop_chunk=flop_chunk,
                            repeats=args.repeats, device=args.device,
                            threads=torch.get_num_threads(), seed=args.seed)
                r = run_worker(__file__, spec, args.timeout)
                rows.append((name, variant, precision, r))
                done = r.get("error") or f"decoder {r['decode_gflops']:.1f} GFLOP/s"
                print(f"  {name} {variant} {precision}: {done}", file=sys.stderr, flush=True)

    print(machine(args.device))
    print("matmul peak: " + "   ".join(f"{p} {v['gflops']:.1f} GFLOP/s (n={v['n']})"
                                       for p, v in peaks.items()))
    print(f"render chunk {args.chunk}; decoder timed on {flop_chunk} queries; "
          f"options = residual + locality + cell_input + local_pixels=4")
    print()
    big = max(args.res)
    res_cols = "".join(f"{f'Mpx/s {r}²':>13}" for r in sorted(args.res))
    mem = f"{big}² MiB"
    print(f"{'preset':<7}{'variant':<9}{'prec':<6}{'MFLOP/q':>9}{'counted':>9}{res_cols}"
          f"{mem:>12}{'dec GFLOP/s':>13}{'of peak':>9}")
    for name, variant, precision, r in rows:
        if "error" in r:
            print(f"{name:<7}{variant:<9}{precision:<6}  failed: {r['error']}")
            continue
        rates = "".join(f"{r['render'][str(res)] / 1e6:>13.3f}" for res in sorted(args.res))
        ratio = r["decode_gflops"] / peaks[precision]["gflops"]
        print(f"{name:<7}{variant:<9}{precision:<6}{r['flops_per_query'] / 1e6:>9.2f}"
              f"{r['counted_flops_per_query'] / 1e6:>9.2f}{rates}{r['peak_mib']:>12.0f}"
              f"{r['decode_gflops']:>13.1f}{ratio:>9.1%}")
    print("\nMFLOP/q: the formula; counted: FlopCounterMode on the timed chunk (adds the locality "
          "bias' 3 dims folded into the attention, misses attention where the kernel is not "
          "registered). "
          f"{big}² MiB: peak memory above the model and latents.")


if __name__ == "__main__":
    main()
