"""Train the ``base`` hybrid-v3 and a ``base`` liif for N minutes each on CUDA (the GPU run of the
models issue), on the same photos, sampler and seed, and write checkpoints and a log under --out.

bf16 autocast (the scan stays fp32), mamba-ssm's selective-scan kernel when it imports (hinr
picks it by itself on CUDA), the fast scan otherwise. The learning-rate schedule runs on time (a
warm-up, then a cosine that reaches its floor when the minutes are spent), validation on the
photos held out from ``train``, and the checkpoint that scores best there is kept:

    python benchmarks/gpu_train.py --out $OUT --minutes 2.5            # on the lent GPU
    python benchmarks/gpu_train.py --out /tmp/g --minutes 1 --cpu-smoke  # this script, on a CPU

``benchmarks/gpu_train.sh`` is the one call for the device machine (install included).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from long_run import V3UC  # noqa: E402  the best v3's settings (pilot-v3u-cellpos), declared once

ARCHS = {  # the base presets: the design at full size (v3: dim 256, 4 processor blocks of 8 × 64)
    "hybrid-v3": V3UC,
    "liif": dict(base_skip=True),
}


def default_data() -> Path:
    for candidate in (ROOT / ".gpu_data" / "photos", ROOT.parent / "shared" / "photos"):
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "photos"


def train_one(arch: str, *, out: Path, minutes: float, data: Path, smoke: bool, log) -> dict:
    import torch

    from hinr.train.config import TrainConfig
    from hinr.train.timed import fit_for
    from hinr.train.trainer import Trainer

    device = "cpu" if smoke else "cuda"
    cfg = TrainConfig(data=str(data), arch=arch, preset="tiny" if smoke else "base",
                      model_overrides=ARCHS[arch], steps=10**6, batch_size=4 if smoke else 32,
                      queries=128 if smoke else 1024, hr_size=256, recon_weight=0.25, lr=5e-4,
                      warmup=10 if smoke else 200, val_every=10**9, save_every=10**9,
                      val_images=4 if smoke else 32, seed=0, device=device, bf16=True)
    trainer = Trainer(cfg, out / arch)
    rows: list[dict] = []

    def record(row: dict) -> None:
        rows.append({"arch": arch, **row})
        log.write(json.dumps(rows[-1]) + "\n")
        log.flush()

    try:
        best = fit_for(trainer, minutes, val_points=6, on_validation=record)
    finally:
        trainer.close()
    from hinr.layers import scan

    return {"arch": arch, "preset": cfg.preset, "device": device, "steps": trainer.step,
            "minutes": minutes, "params": trainer.model.num_parameters,
            "images_per_s": trainer.step * cfg.batch_size / (minutes * 60.0),
            "best_heldout_psnr": best, "mamba_kernel": scan.cuda_kernel_available(),
            "cuda": torch.cuda.get_device_name() if device == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=2.5, help="per architecture")
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny presets on the CPU")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = []
    with (args.out / "gpu_train.jsonl").open("a") as log:
        for arch in args.archs:
            try:
                summary.append(train_one(arch, out=args.out, minutes=args.minutes, data=args.data,
                                         smoke=args.cpu_smoke, log=log))
            except Exception as err:  # noqa: BLE001 - the other architecture still runs
                summary.append({"arch": arch, "error": f"{type(err).__name__}: {err}"})
            print(json.dumps(summary[-1]), flush=True)
    (args.out / "gpu_train_summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
