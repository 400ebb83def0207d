"""The rendering fast paths, measured one at a time against the same baseline in one run.

A script run by hand, not a test. Each variant renders the same 32×32 input at ``--res``² through
``hinr.inference.upscale.render_latents`` (the CLI's path) in a fresh process, and reports its time, the
speed-up over the baseline and the largest difference from the fp32 reference render in grey
levels (of 255). The variants run in ``--rounds`` interleaved rounds and each keeps its best
round (the median of ``--repeats`` renders): on a shared VM whose speed drifts by tens of per cent
over minutes, one pass in a fixed order ranked the variants by when they ran. The fast paths are
the attention read-out's, so the model is the hybrid-v2 shipped as ``hybrid`` until the v3 replaced it
(``tests/data/previous_weights/hybrid-fb7f4ac8.safetensors``) by default
(``--model small`` etc.: a random-weight preset with its options: residual, locality,
cell_input, local_pixels=4). Every variant keeps the library's fused GEGLU at inference
(``hinr.layers.fused``, since session 31), so ``baseline`` is the rest of rendering as it was.

Variants (each changes one thing from the row it names):

    baseline       what rendering did before the fast paths: locality bias as a dense
                   (B, H, Q, M) tensor, fp32, chunk 16384, latents' keys/values cached
    no-kv-cache    baseline without the key/value cache: the latents are projected per chunk
    fold           the locality bias folded into q/k (``SeparableBias``), fp32 — the default
    ff-fused       fold + the feed-forward with LayerNorm's affine folded into its first matmul,
                   an in-place GEGLU and the residual added inside the second matmul
    bf16-dense     baseline under bf16 autocast (the dense bias in bf16)
    bf16           fold under bf16 autocast, the folded attention in fp32 — ``--precision bf16``
    bf16-chunk-N   bf16 with N queries per chunk
    compiled       fold + ``model.decoder.compile()`` (compile time reported apart), fp32
    bf16-compiled  bf16 + ``model.decoder.compile()``

    OMP_NUM_THREADS=2 python benchmarks/bench_fastpaths.py
    OMP_NUM_THREADS=2 python benchmarks/bench_fastpaths.py --model small --res 128
    python benchmarks/bench_fastpaths.py --quick        # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, parse_args, run_worker  # noqa: E402

PREVIOUS_HYBRID = ROOT / "tests" / "data" / "previous_weights" / "hybrid-fb7f4ac8.safetensors"
OPTIONS = dict(residual=True, locality=True, cell_input=True, local_pixels=4)
CHUNKS = (2048, 4096, 8192, 65536)


def variants(compile_: bool) -> list[str]:
    names = ["baseline", "no-kv-cache", "fold", "ff-fused", "bf16-dense", "bf16"]
    names += [f"bf16-chunk-{n}" for n in CHUNKS]
    return names + (["compiled", "bf16-compiled"] if compile_ else [])


def _dense_locality() -> None:
    """Put back the dense bias: LocalityBias returns its (B, H, Q, M) tensor."""
    from hinr.models.locality import LocalityBias

    LocalityBias.forward = LocalityBias.dense


def _no_kv_cache() -> None:
    from hinr.models.hinr import HINR

    decode = HINR.decode
    HINR.decode = lambda self, latents, coords, cell=None, *, context=None, base=None: decode(
        self, latents, coords, cell, base=base)


def _fused_feedforward() -> None:
    import torch
    import torch.nn.functional as F

    from hinr.models.scent_decoder import PreNormFeedForward

    def forward(self, x):
        norm, first, second = self.norm, self.ff.net[0], self.ff.net[3]
        weight = first.weight * norm.weight.to(first.weight.dtype)
        bias = first.bias + first.weight @ norm.bias.to(first.weight.dtype)
        flat = x.reshape(-1, x.shape[-1])
        h = F.layer_norm(flat, flat.shape[-1:], eps=norm.eps)
        if torch.is_autocast_enabled(x.device.type):
            h = F.linear(h, weight, bias)
            value, gate = h.chunk(2, dim=-1)
            return x + F.linear(F.gelu(gate) * value, second.weight, second.bias).view_as(x)
        h = torch.addmm(bias, h, weight.t())
        value, gate = h.chunk(2, dim=-1)
        gate = F.gelu(gate).mul_(value)
        return torch.addmm(flat + second.bias, gate, second.weight.t()).view_as(x)

    PreNormFeedForward.forward = forward


def worker(spec: dict) -> dict:
    """Fresh process: time one variant's render, and save it for the accuracy column."""
    import torch

    import hinr
    from hinr.store.checkpoint import load_model
    from hinr.inference.upscale import render_latents

    torch.set_num_threads(spec["threads"])
    name = spec["variant"]
    if name in ("baseline", "no-kv-cache", "bf16-dense"):
        _dense_locality()
    if name == "no-kv-cache":
        _no_kv_cache()
    if name == "ff-fused":
        _fused_feedforward()
    torch.manual_seed(0)
    if spec["model"] == "hybrid-v2":
        model = load_model(PREVIOUS_HYBRID).eval()
    else:
        model = hinr.HINR(hinr.preset(spec["model"], **OPTIONS)).eval()
        with torch.no_grad():
            model.residual_gate.fill_(1.0)  # let the random decoder's output count
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        latents = model.encode(images)
    precision = "bf16" if name.startswith("bf16") else "fp32"
    chunk = int(name.rsplit("-", 1)[1]) if "-chunk-" in name else 16384
    res = spec["res"]

    def render():
        return render_latents(model, latents, res, res, chunk=chunk, precision=precision)

    out: dict = {}
    if name.endswith("compiled"):
        model.decoder.compile()
        start = time.perf_counter()
        render()
        out["compile_s"] = time.perf_counter() - start
    render()  # warm-up
    times, image = [], None
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        image = render()
        times.append(time.perf_counter() - start)
    torch.save(image, spec["save"])
    out["seconds"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hybrid-v2", help="hybrid-v2 (the weights shipped as hybrid before the v3), or a preset "
                        "(tiny/small/base) with random weights and their options")
    parser.add_argument("--res", type=int, default=256, help="square render side")
    parser.add_argument("--repeats", type=int, default=5, help="renders per round (median kept)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--variants", nargs="+", default=None, help="a subset of the variants")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per variant")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64², one repeat, no compile")
    args = parse_args(parser, worker)
    if args is None:
        return
    import os
    import tempfile

    import torch

    if args.quick:
        args.res, args.repeats, args.rounds, args.no_compile = 64, 1, 1, True
    names = args.variants or variants(not args.no_compile)
    if "fold" not in names:
        names = ["fold", *names]  # the fp32 reference of the accuracy column
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh inductor cache: round 1 compiles cold, later rounds hit the cache
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "inductor")
        for round_ in range(args.rounds):
            for name in names:
                spec = dict(variant=name, model=args.model, res=args.res, repeats=args.repeats,
                            threads=torch.get_num_threads(), save=str(Path(tmp) / f"{name}.pt"))
                r = run_worker(__file__, spec, args.timeout)
                if "error" not in r:
                    r["image"] = torch.load(spec["save"])
                    r["rounds"] = results.get(name, {}).get("rounds", []) + [r["seconds"]]
                    r["seconds"] = min(r["rounds"])
                    if "compile_s" in r:
                        r["compiles"] = results.get(name, {}).get("compiles", []) + [r["compile_s"]]
                if "error" not in results.get(name, {}):
                    results[name] = r
                done = r.get("error") or f"{r['rounds'][-1]:.3f} s"
                print(f"  round {round_ + 1} {name}: {done}", file=sys.stderr, flush=True)

    print(machine("cpu"))
    print(f"model {args.model}; render {args.res}² through render_latents; best of {args.rounds} "
          f"interleaved rounds, each the median of {args.repeats} renders after a warm-up in a "
          f"fresh process")
    print()
    ref = results["fold"].get("image")
    base = results.get("baseline", {}).get("seconds")
    print(f"{'variant':<18}{'seconds':>9}{'Mpx/s':>8}{'vs baseline':>13}{'max |Δ| grey':>14}  "
          f"rounds (s); notes")
    for name in names:
        r = results[name]
        if "error" in r:
            print(f"{name:<18}  failed: {r['error']}")
            continue
        speed = f"{base / r['seconds']:.2f}×" if base else "–"
        delta = (r["image"] - ref).abs().max().item() * 255 if ref is not None else float("nan")
        note = " ".join(f"{t:.3f}" for t in r["rounds"])
        if "compiles" in r:
            note += f"; compile + first render {r['compiles'][0]:.1f} s cold"
            if len(r["compiles"]) > 1:
                note += f", {min(r['compiles'][1:]):.1f} s cached"
        print(f"{name:<18}{r['seconds']:>9.3f}{args.res**2 / r['seconds'] / 1e6:>8.3f}{speed:>13}"
              f"{delta:>14.2f}  {note}")
    print("\nmax |Δ| grey: largest difference from the 'fold' (fp32) render, in grey levels of 255.")


if __name__ == "__main__":
    main()
