"""Training throughput (images/s) of each preset × architecture, fp32 against bf16 autocast.

A script run by hand, not a test. Each step is ``hinr.train.Trainer.train_step`` itself, on a few
random photos (B crops, Q queries each, the learning rate flat: no warm-up): sampling the batch, the
forward, the MSE, backward, gradient clipping at 1 and an AdamW step. Warm-up steps are untimed. The FLOPs of a step are counted as 3 × the forward's matmul FLOPs
(``FlopCounterMode`` on one forward; backward ≈ 2 × forward), so GFLOP/s is comparable with a
matmul peak; the Mamba scan's elementwise recurrence is not in the count.

    OMP_NUM_THREADS=2 python benchmarks/bench_train.py
    python benchmarks/bench_train.py --presets tiny small --archs hybrid scent --steps 3
    python benchmarks/bench_train.py --device cuda --batch 128
    python benchmarks/bench_train.py --quick        # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHS = ("hybrid", "mamba-ginr", "scent")


def _photo_folder(folder: Path, *, count: int = 8, side: int = 128, seed: int = 0) -> Path:
    """A few random photos to train on: the step's cost does not depend on what they show."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)).save(folder / f"p{i}.png")
    return folder


def train_throughput(*, preset_name: str, arch: str, precision: str, batch: int, queries: int,
                     warmup: int, steps: int, device: str, seed: int = 0,
                     max_seconds: float | None = None, overrides: dict | None = None) -> dict:
    """Images/s of ``hinr.train.Trainer.train_step`` (the training loop's own step: sampling a
    batch, forward, MSE, backward, clipping, AdamW), and the step's counted FLOPs.

    Times ``steps`` steps after ``warmup`` untimed ones, stopping early (after at least one)
    once ``max_seconds`` have passed. Returns images_per_s, step_s, steps, fwd_flops (one
    forward's matmul FLOPs), train_gflops (3 · fwd_flops per step time), params and, on CUDA,
    peak_gib (torch.cuda.max_memory_allocated).
    """
    import tempfile

    import torch

    from bench_decoder_flops import count_flops, sync
    from hinr.train import TrainConfig, Trainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(data=str(_photo_folder(Path(tmp) / "photos", seed=seed)), arch=arch,
                          preset=preset_name, model_overrides=overrides or {}, steps=10**6,
                          batch_size=batch, queries=queries, hr_size=128, val_every=10**9,
                          save_every=10**9, val_images=1, seed=seed, device=device,
                          bf16=precision == "bf16", warmup=0)
        trainer = Trainer(cfg, Path(tmp) / "run")
        try:
            cuda = device.startswith("cuda")
            for _ in range(warmup):
                trainer.train_step()
            sync(device)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            done, start = 0, time.perf_counter()
            while done < steps:
                trainer.train_step()
                done += 1
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    break
            sync(device)
            step_s = (time.perf_counter() - start) / done
            model = trainer.model
            gen = torch.Generator().manual_seed(seed)
            images = torch.rand(batch, 3, 32, 32, generator=gen).to(trainer.device)
            coords = torch.rand(batch, queries, 2, generator=gen).to(trainer.device)
            cell = torch.full((batch, 2), 1.0 / 64).to(trainer.device)

            def forward() -> torch.Tensor:
                with trainer._autocast():
                    return model(images, coords, cell).float()

            with torch.no_grad():
                fwd_flops = count_flops(forward)
            out = dict(images_per_s=batch / step_s, step_s=step_s, steps=done, fwd_flops=fwd_flops,
                       train_gflops=3 * fwd_flops / step_s / 1e9, params=model.num_parameters)
            if cuda:
                out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            return out
        finally:
            trainer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "base"])
    parser.add_argument("--archs", nargs="+", choices=ARCHS, default=list(ARCHS))
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--queries", type=int, default=1024, help="coordinates per image")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop timing a configuration after this long (at least one step)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny preset, tiny batch")
    from harness import machine, parse_args

    args = parse_args(parser)

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but torch sees no CUDA device")
    if args.quick:
        args.presets, args.batch, args.queries, args.warmup, args.steps = ["tiny"], 2, 64, 1, 1

    rows = []
    for name in args.presets:
        for arch in args.archs:
            for precision in args.precisions:
                try:
                    r = train_throughput(preset_name=name, arch=arch, precision=precision,
                                         batch=args.batch, queries=args.queries, warmup=args.warmup,
                                         steps=args.steps, device=args.device, seed=args.seed,
                                         max_seconds=args.max_seconds)
                except Exception as error:  # one failing configuration must not hide the rest
                    r = {"error": f"{type(error).__name__}: {error}"}
                rows.append((name, arch, precision, r))
                done = r.get("error") or f"{r['images_per_s']:.1f} images/s"
                print(f"  {name} {arch} {precision}: {done}", file=sys.stderr, flush=True)

    print(machine(args.device))
    print(f"batch {args.batch}  queries {args.queries}  {args.warmup} warm-up + {args.steps} timed "
          "steps of forward + backward + clip + AdamW on random data")
    print()
    mem = f"{'peak GiB':>10}" if cuda else ""
    print(f"{'preset':<7}{'arch':<12}{'prec':<6}{'params M':>9}{'step ms':>10}{'images/s':>10}"
          f"{'GFLOP/step':>12}{'GFLOP/s':>9}{mem}")
    for name, arch, precision, r in rows:
        if "error" in r:
            print(f"{name:<7}{arch:<12}{precision:<6}  failed: {r['error']}")
            continue
        mem = f"{r['peak_gib']:>10.2f}" if cuda else ""
        print(f"{name:<7}{arch:<12}{precision:<6}{r['params'] / 1e6:>9.2f}{r['step_s'] * 1e3:>10.1f}"
              f"{r['images_per_s']:>10.1f}{3 * r['fwd_flops'] / 1e9:>12.2f}{r['train_gflops']:>9.1f}"
              f"{mem}")
    print("\nGFLOP/step: 3 × the forward's matmul FLOPs (FlopCounterMode); the scan's elementwise "
          "work is not counted.")


if __name__ == "__main__":
    main()
