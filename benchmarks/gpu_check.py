"""The sections of the one-shot GPU check (``benchmarks/gpu_check.sh`` runs each in its own process
under a time limit, so a crash or a hang in one leaves the others standing).

Each section appends Markdown to ``--md`` as it goes (a section cut short keeps what it wrote) and
its numbers to ``OUT/gpu_check.json``:

- ``env``:    torch, CUDA, the GPU, TF32 settings, whether mamba-ssm's kernel imports;
- ``smoke``:  hinr on CUDA against the same model on the CPU (fp32, TF32 off): every architecture's
              forward, every gradient, a render; the fast scan on CUDA against the float64 reference;
- ``peak``:   square-matmul peak, bf16 and fp32, on random data;
- ``train``:  base-preset training images/s (bf16 and fp32) and the achieved fraction of the bf16
              peak (H200 datasheet, 989 TFLOP/s dense, and the measured one), with a step's FLOPs
              counted as 3 × the forward's (``FlopCounterMode``);
- ``render``: base-preset renders of 1024² and 4096²: time, pixels/s, ``max_memory_allocated``;
- ``kernel``: when ``selective_scan_cuda`` imports, mamba-ssm's kernel against our fast scan on the
              same random inputs (output and every gradient, fp32 and bf16), a ``Mamba`` layer with
              the same weights through both paths (and mamba-ssm's own ``Mamba`` if it imports),
              their speeds, and base training through the kernel.

``--cpu-smoke`` runs every section on the CPU at tiny sizes (the kernel section then compares the
fast scan against the reference in the kernel's place), to check this script without a GPU::

    python benchmarks/gpu_check.py all --cpu-smoke --out /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from hinr.precision import autocast as precision_context, resolve_precision  # noqa: E402

from bench_decoder_flops import decoder_flops_per_query, matmul_peak, sync  # noqa: E402
from bench_train import train_throughput  # noqa: E402

H200_BF16_DENSE_TFLOPS = 989.0  # datasheet, dense (no sparsity); this workplace measured ~790
SECTIONS = ("env", "smoke", "peak", "train", "render", "kernel")


class Report:
    """Appends Markdown lines to the report as they come, and numbers to the JSON beside it."""

    def __init__(self, md: Path, out: Path, section: str) -> None:
        self.md, self.json, self.section = md, out / "gpu_check.json", section
        self.line(f"\n## {section}\n")

    def line(self, text: str = "") -> None:
        print(text, flush=True)
        with self.md.open("a") as f:
            f.write(text + "\n")

    def table(self, header: list[str]) -> None:
        self.line("| " + " | ".join(header) + " |")
        self.line("|" + "---|" * len(header))

    def row(self, *cells) -> None:
        self.line("| " + " | ".join(str(c) for c in cells) + " |")

    def save(self, key: str, value) -> None:
        data = json.loads(self.json.read_text()) if self.json.is_file() else {}
        data.setdefault(self.section, {})[key] = value
        self.json.write_text(json.dumps(data, indent=1, sort_keys=True))

    def load(self, section: str, key: str):
        data = json.loads(self.json.read_text()) if self.json.is_file() else {}
        return data.get(section, {}).get(key)

    def error(self, what: str, error: BaseException) -> None:
        """A failed check: one line in the report, the traceback in the log."""
        traceback.print_exc()
        self.line(f"- **{what} failed**: `{type(error).__name__}: {str(error)[:300]}`")


class Clock:
    def __init__(self, budget: float) -> None:
        self.end = time.monotonic() + budget

    def left(self) -> float:
        return self.end - time.monotonic()


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ in float64 on the CPU (NaN anywhere gives NaN)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def verdict(err: float, tol: float) -> str:
    return "pass" if err <= tol else "**FAIL**"  # NaN fails: NaN <= tol is False


def kernel_import_error() -> str | None:
    try:
        import selective_scan_cuda  # noqa: F401
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


# -- sections --------------------------------------------------------------------------------------
def section_env(r: Report, a) -> None:
    r.table(["what", "value"])
    r.row("python", platform.python_version())
    r.row("torch", torch.__version__)
    r.row("torch CUDA / cuDNN", f"{torch.version.cuda} / {torch.backends.cudnn.version()}")
    r.row("CUDA available", torch.cuda.is_available())
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        r.row("GPU", f"{p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}, "
              f"{p.multi_processor_count} SMs")
    r.row("TF32 (matmul / cuDNN) defaults", f"{torch.backends.cuda.matmul.allow_tf32} / "
          f"{torch.backends.cudnn.allow_tf32}")
    for name in ("mamba_ssm", "causal_conv1d", "selective_scan_cuda"):
        try:
            module = __import__(name)
            r.row(name, getattr(module, "__version__", "imports"))
        except Exception as error:
            r.row(name, f"not importable ({type(error).__name__})")
    from hinr.layers.scan import cuda_kernel_available

    r.row("hinr scan on CUDA", "mamba-ssm kernel" if cuda_kernel_available() else "fast PyTorch scan")
    r.save("torch", torch.__version__)


def section_smoke(r: Report, a) -> None:
    import hinr
    from hinr.layers.scan import selective_scan_fast, selective_scan_ref
    from hinr.inference.upscale import encode_images, render_latents

    from bench_decoder_flops import OPTIONS

    torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    torch.backends.cudnn.allow_tf32 = False
    dev = a.device
    r.line(f"hinr on `{dev}` against the same weights on the CPU, fp32, tiny preset; "
           "‖Δ‖/‖cpu‖ per check.\n")
    r.table(["check", "rel. error", "tolerance", ""])
    configs = [(arch, {}) for arch in hinr.ARCHITECTURES] + [("hybrid", OPTIONS)]
    for arch, options in configs:
        name = arch + (" + options" if options else "")
        try:
            torch.manual_seed(0)
            cpu = hinr.HINR(hinr.preset("tiny", arch=arch, **options))
            if cpu.residual_gate is not None:  # a zero gate (the init) would stop every gradient
                with torch.no_grad():
                    cpu.residual_gate.fill_(0.5)
            gpu = hinr.HINR(cpu.config).to(dev)
            gpu.load_state_dict(cpu.state_dict())
            gen = torch.Generator().manual_seed(1)
            images, coords = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 256, 2, generator=gen)
            target = torch.rand(2, 256, 3, generator=gen)
            outs, grads = [], []
            for model in (cpu, gpu):
                p = next(model.parameters())
                out = model(images.to(p.device), coords.to(p.device))
                (out - target.to(p.device)).pow(2).mean().backward()
                outs.append(out)
                grads.append({k: v.grad for k, v in model.named_parameters()})
            r.row(f"{name}: forward", f"{rel_err(outs[1], outs[0]):.1e}", "1e-5",
                  verdict(rel_err(outs[1], outs[0]), 1e-5))
            missing = [k for k, g in grads[1].items() if g is None or not torch.isfinite(g).all()
                       or (g == 0).all()]
            worst = max(rel_err(grads[1][k], grads[0][k]) for k in grads[0]
                        if grads[0][k] is not None and grads[0][k].abs().sum() > 0)
            r.row(f"{name}: worst parameter gradient", f"{worst:.1e}", "1e-3", verdict(worst, 1e-3))
            r.row(f"{name}: parameters without a finite, non-zero gradient on {dev}",
                  len(missing), "0", "pass" if not missing else f"**FAIL** {missing[:4]}")
            with precision_context(resolve_precision("bf16", dev), dev):
                low = gpu(images.to(dev), coords.to(dev)).float()
            r.row(f"{name}: bf16 autocast forward vs fp32", f"{rel_err(low, outs[0]):.1e}", "5e-2",
                  verdict(rel_err(low, outs[0]), 5e-2))
        except Exception as error:
            r.error(f"{name} on {dev}", error)
    try:
        torch.manual_seed(0)
        cpu = hinr.HINR(hinr.preset("tiny", **OPTIONS)).eval()
        gpu = hinr.HINR(cpu.config).to(dev).eval()
        gpu.load_state_dict(cpu.state_dict())
        image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
        pictures = [render_latents(m, encode_images(m, image), 96, 80, chunk=1000) for m in (cpu, gpu)]
        err = float((pictures[1] - pictures[0]).abs().max())
        r.row("render 96×80 (options on), max abs difference", f"{err:.1e}", "1e-4", verdict(err, 1e-4))
    except Exception as error:
        r.error("render on CUDA", error)
    try:
        import torch.nn.functional as F

        from hinr.models.locality import LocalityBias

        torch.manual_seed(5)
        bias = LocalityBias(heads=8, side=16).to(dev)
        coords = torch.rand(2, 4096, 2, device=dev)
        q, k, v = (torch.randn(2, 8, n, 64, device=dev) for n in (4096, 256, 256))
        exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                               attn_mask=bias.dense(coords.double()))
        for dtype in (torch.float32, torch.bfloat16):
            folded = bias(coords).attend(q.to(dtype), k.to(dtype), v.to(dtype))
            err, tol = rel_err(folded, exact), (1e-5 if dtype == torch.float32 else 1e-2)
            r.row(f"locality bias folded into q/k ({dtype}) vs dense float64", f"{err:.1e}",
                  f"{tol:.0e}", verdict(err, tol))
    except Exception as error:
        r.error("folded locality bias on CUDA", error)
    try:
        from bench_scan import make_inputs

        ref_in = make_inputs(batch=2, d_inner=64, d_state=16, length=200, seed=3)
        ref_in = {k: v.detach().double().requires_grad_() for k, v in ref_in.items()}
        dev_in = {k: v.detach().float().to(dev).requires_grad_() for k, v in ref_in.items()}
        y_ref = selective_scan_ref(**ref_in, delta_softplus=True)
        y_dev = selective_scan_fast(**dev_in, delta_softplus=True)
        w = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        (y_ref * w).sum().backward()
        (y_dev * w.float().to(dev)).sum().backward()
        r.row(f"fast scan on {dev} (fp32) vs float64 reference: output",
              f"{rel_err(y_dev, y_ref):.1e}", "1e-5", verdict(rel_err(y_dev, y_ref), 1e-5))
        worst = max((rel_err(dev_in[k].grad, ref_in[k].grad), k) for k in ref_in)
        r.row(f"... worst gradient ({worst[1]})", f"{worst[0]:.1e}", "1e-4", verdict(worst[0], 1e-4))
    except Exception as error:
        r.error("fast scan on CUDA", error)


def section_peak(r: Report, a) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    r.table(["dtype", "n", "TFLOP/s"])
    for dtype in ("bf16", "fp32"):
        try:
            peak = matmul_peak(dtype, a.device, max_n=a.sizes["matmul_n"], seconds=2.0)
            r.row(dtype + (" (TF32 off)" if dtype == "fp32" else ""), peak["n"],
                  f"{peak['gflops'] / 1e3:.1f}")
            r.save(dtype, peak)
        except Exception as error:
            r.error(f"{dtype} matmul", error)


def section_train(r: Report, a, clock: Clock, *, configs=None, title: str | None = None) -> None:
    from hinr.layers.scan import cuda_kernel_available

    s = a.sizes
    peak = (r.load("peak", "bf16") or {}).get("gflops")
    scan = "mamba-ssm kernel" if cuda_kernel_available() and not a.cpu_smoke else "fast PyTorch scan"
    r.line(title or f"{s['preset']} preset, queries {s['queries']}, random data, forward + "
           f"backward + clip + AdamW; Mamba scan: {scan}. FLOPs = 3 × the forward's matmul FLOPs. "
           f"Fractions: of {H200_BF16_DENSE_TFLOPS:.0f} TFLOP/s (H200 bf16 dense, datasheet) and of "
           f"the bf16 matmul peak measured above ({peak / 1e3:.0f} TFLOP/s).\n" if peak else "")
    r.table(["arch", "batch", "precision", "steps", "step ms", "images/s", "TFLOP/s",
             "of 989", "of measured", "peak GiB"])
    for arch, batch, precision in configs or s["train_configs"]:
        if clock.left() < s["train_seconds"] + 10:
            r.line(f"- {arch} batch {batch} {precision}: skipped, out of time")
            continue
        try:
            t = train_throughput(preset_name=s["preset"], arch=arch, precision=precision,
                                 batch=batch, queries=s["queries"], warmup=s["train_warmup"],
                                 steps=s["train_steps"], device=a.device,
                                 max_seconds=s["train_seconds"])
            tflops = t["train_gflops"] / 1e3
            r.row(arch, batch, precision, t["steps"], f"{t['step_s'] * 1e3:.0f}",
                  f"{t['images_per_s']:.1f}", f"{tflops:.2f}",
                  f"{tflops / H200_BF16_DENSE_TFLOPS:.2%}",
                  f"{t['train_gflops'] / peak:.2%}" if peak else "-",
                  f"{t.get('peak_gib', float('nan')):.1f}")
            r.save(f"{arch}-{batch}-{precision}-{scan}", t)
        except Exception as error:
            r.error(f"{arch} batch {batch} {precision}", error)


def section_render(r: Report, a, clock: Clock) -> None:
    import hinr
    from hinr.inference.upscale import encode_images, render_latents

    s = a.sizes
    cuda = a.device.startswith("cuda")
    torch.manual_seed(0)
    model = hinr.HINR(hinr.preset(s["preset"])).to(a.device).eval()
    per_query = decoder_flops_per_query(model.config)
    r.line(f"{s['preset']} preset (hybrid, random weights) through `render_latents` (the CLI's "
           f"path: chunks decoded on the GPU, gathered on the CPU); decoder {per_query / 1e6:.2f} "
           "MFLOP per pixel. Memory: `torch.cuda.max_memory_allocated` during the render, and "
           "above what model and latents hold.\n")
    r.table(["size", "precision", "chunk", "seconds", "Mpx/s", "decoder TFLOP/s", "peak MiB",
             "above base MiB"])
    for res in s["render_sizes"]:
        for precision in ("bf16", "fp32"):
            for chunk in s["render_chunks"]:
                if clock.left() < 15:
                    r.line(f"- {res}² {precision} chunk {chunk}: skipped, out of time")
                    continue
                try:
                    autocast = precision_context(resolve_precision(precision, a.device), a.device)
                    with autocast:
                        latents = encode_images(model, torch.rand(1, 3, 32, 32))
                        render_latents(model, latents, 64, 64, chunk=chunk)  # warm-up
                    sync(a.device)
                    if cuda:
                        torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated() if cuda else 0
                    start = time.perf_counter()
                    with autocast:
                        render_latents(model, latents, res, res, chunk=chunk)
                    sync(a.device)
                    seconds = time.perf_counter() - start
                    peak = torch.cuda.max_memory_allocated() if cuda else float("nan")
                    r.row(f"{res}²", precision, chunk, f"{seconds:.2f}",
                          f"{res * res / seconds / 1e6:.2f}",
                          f"{per_query * res * res / seconds / 1e12:.1f}",
                          f"{peak / 2**20:.0f}", f"{(peak - base) / 2**20:.0f}")
                    r.save(f"{res}-{precision}-{chunk}", dict(seconds=seconds, peak_bytes=peak,
                                                                base_bytes=base))
                except Exception as error:
                    r.error(f"render {res}² {precision} chunk {chunk}", error)


def section_kernel(r: Report, a, clock: Clock) -> None:
    from hinr.layers.mamba import Mamba
    from hinr.layers.scan import selective_scan_fast, selective_scan_ref

    from bench_scan import make_inputs

    problem = kernel_import_error()
    if problem and not a.cpu_smoke:
        r.line(f"mamba-ssm's kernel does not import, so nothing to compare: `{problem}`")
        return
    if a.cpu_smoke:
        kernel, label = selective_scan_ref, "the reference (CPU smoke stand-in)"
    else:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as kernel

        label = "mamba-ssm `selective_scan_fn`"
    s, dev = a.sizes, a.device
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    r.line(f"{label} against hinr's fast scan, same random inputs; ‖Δ‖/‖fast‖.\n")
    r.table(["check", "rel. error", "tolerance", ""])
    tols = {"fp32": (1e-4, 1e-3), "bf16": (2e-2, 5e-2)}  # (output, gradients)
    for precision, (tol_y, tol_g) in tols.items():
        try:
            dtype = torch.float32 if precision == "fp32" else torch.bfloat16
            base = make_inputs(batch=s["scan_batch"], d_inner=s["scan_d_inner"], d_state=16,
                               length=s["scan_length"], seed=5)
            results = []
            for fn in (kernel, selective_scan_fast):
                # u, delta, B, C, z in the test precision; A, D and the bias stay fp32, as in Mamba
                ins = {k: v.detach().to(dev, dtype if k in ("u", "delta", "B", "C", "z")
                                        else torch.float32).contiguous().requires_grad_()
                       for k, v in base.items()}
                y = fn(**ins, delta_softplus=True)
                w = torch.randn(y.shape, generator=torch.Generator().manual_seed(6)).to(dev, y.dtype)
                (y * w).float().sum().backward()
                results.append((y, {k: v.grad for k, v in ins.items()}))
            (y_k, g_k), (y_f, g_f) = results
            r.row(f"{precision}: output", f"{rel_err(y_k, y_f):.1e}", f"{tol_y:g}",
                  verdict(rel_err(y_k, y_f), tol_y))
            for k in g_f:
                r.row(f"{precision}: grad {k}", f"{rel_err(g_k[k], g_f[k]):.1e}", f"{tol_g:g}",
                      verdict(rel_err(g_k[k], g_f[k]), tol_g))
        except Exception as error:
            r.error(f"{precision} scan comparison", error)

    # a Mamba layer with one set of weights, through the kernel ("auto") and the fast scan
    try:
        torch.manual_seed(7)
        layers = {"fast": Mamba(d_model=s["layer_dim"], scan="fast").to(dev)}
        layers["kernel"] = Mamba(d_model=s["layer_dim"], scan="ref" if a.cpu_smoke else "auto").to(dev)
        layers["kernel"].load_state_dict(layers["fast"].state_dict())
        official = None
        if not a.cpu_smoke:
            try:
                from mamba_ssm.modules.mamba_simple import Mamba as MambaSSM

                try:
                    import causal_conv1d  # noqa: F401
                    fused = True
                except Exception:
                    fused = False
                official = MambaSSM(d_model=s["layer_dim"], d_state=16, d_conv=4, expand=2,
                                    use_fast_path=fused).to(dev)
                official.load_state_dict(layers["fast"].state_dict(), strict=True)
                layers[f"mamba_ssm.Mamba (fused path {'on' if fused else 'off'})"] = official
            except Exception as error:
                r.error("building mamba_ssm's own Mamba with our weights", error)
        x = torch.randn(2, s["scan_length"], s["layer_dim"],
                        generator=torch.Generator().manual_seed(8)).to(dev)
        outs = {}
        for name, layer in layers.items():
            y = layer(x)
            y.square().mean().backward()
            outs[name] = (y, {k: p.grad for k, p in layer.named_parameters()})
        y_f, g_f = outs.pop("fast")
        for name, (y, g) in outs.items():
            worst = max((rel_err(g[k], g_f[k]), k) for k in g_f)
            r.row(f"Mamba layer fp32, {name} vs fast: output", f"{rel_err(y, y_f):.1e}", "1e-4",
                  verdict(rel_err(y, y_f), 1e-4))
            r.row(f"... worst parameter gradient ({worst[1]})", f"{worst[0]:.1e}", "1e-3",
                  verdict(worst[0], 1e-3))
    except Exception as error:
        r.error("Mamba layer comparison", error)

    # speeds: forward + backward of one scan the size of a base BiMamba direction
    r.line()
    r.table(["scan", "batch", "d_inner", "L", "fwd+bwd ms", "speed-up"])
    for batch in s["speed_batches"]:
        try:
            ins = make_inputs(batch=batch, d_inner=2 * s["layer_dim"], d_state=16,
                              length=s["scan_length"], seed=9)
            ins = {k: v.detach().to(dev).requires_grad_() for k, v in ins.items()}
            timings = {}
            for name, fn in (("kernel", kernel), ("fast", selective_scan_fast)):
                times = []
                for i in range(2 + s["speed_repeats"]):
                    sync(dev)
                    start = time.perf_counter()
                    fn(**ins, delta_softplus=True).sum().backward()
                    sync(dev)
                    if i >= 2:
                        times.append(time.perf_counter() - start)
                timings[name] = statistics.median(times)
            r.row("kernel", batch, 2 * s["layer_dim"], s["scan_length"],
                  f"{timings['kernel'] * 1e3:.2f}", f"{timings['fast'] / timings['kernel']:.1f}×")
            r.row("fast", batch, 2 * s["layer_dim"], s["scan_length"],
                  f"{timings['fast'] * 1e3:.2f}", "1")
        except Exception as error:
            r.error(f"scan speed at batch {batch}", error)
    if not a.cpu_smoke:
        r.line()
        section_train(r, a, clock, configs=s["kernel_train_configs"],
                      title="Training with the kernel in the BiMamba encoder:\n")


# -- sizes ----------------------------------------------------------------------------------------
GPU_SIZES = dict(
    preset="base", queries=1024, matmul_n=16384,
    train_configs=[("hybrid", 16, "bf16"), ("hybrid", 128, "bf16"), ("hybrid", 128, "fp32"),
                   ("scent", 128, "bf16"), ("mamba-ginr", 128, "bf16")],
    kernel_train_configs=[("hybrid", 16, "bf16"), ("hybrid", 128, "bf16")],
    train_warmup=2, train_steps=10, train_seconds=15.0,
    render_sizes=[1024, 4096], render_chunks=[16384, 262144],
    scan_batch=4, scan_d_inner=256, scan_length=512, layer_dim=256, speed_batches=[16, 128],
    speed_repeats=5,
)
CPU_SMOKE_SIZES = dict(
    preset="tiny", queries=64, matmul_n=256,
    train_configs=[("hybrid", 2, "bf16"), ("scent", 2, "fp32")], kernel_train_configs=[],
    train_warmup=1, train_steps=1, train_seconds=5.0,
    render_sizes=[64], render_chunks=[1024], scan_batch=1, scan_d_inner=8, scan_length=16,
    layer_dim=16, speed_batches=[1], speed_repeats=1,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=SECTIONS + ("all",))
    parser.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    parser.add_argument("--md", type=Path, default=None, help="default: OUT/gpu_check.md")
    parser.add_argument("--budget", type=float, default=120, help="seconds this section may use")
    parser.add_argument("--cpu-smoke", action="store_true", help="CPU, tiny sizes, no GPU needed")
    a = parser.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    a.md = a.md or a.out / "gpu_check.md"
    a.sizes = CPU_SMOKE_SIZES if a.cpu_smoke else GPU_SIZES
    a.device = "cpu" if a.cpu_smoke else "cuda"
    if not a.cpu_smoke and not torch.cuda.is_available():
        Report(a.md, a.out, a.section).line("torch sees no CUDA device: nothing measured.")
        sys.exit(1)
    clock = Clock(a.budget)
    functions = dict(env=section_env, smoke=section_smoke, peak=section_peak, train=section_train,
                     render=section_render, kernel=section_kernel)
    for name in SECTIONS if a.section == "all" else (a.section,):
        r = Report(a.md, a.out, name)
        started = time.monotonic()
        try:
            fn = functions[name]
            fn(r, a, clock) if name in ("train", "render", "kernel") else fn(r, a)
        except Exception as error:
            r.error(f"section {name}", error)
        r.line(f"\n_{name}: {time.monotonic() - started:.0f} s_")


if __name__ == "__main__":
    main()
