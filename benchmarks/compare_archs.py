"""The four architectures at equal CPU wall time: train each with its options on the same photos,
same seed, same sample stream, then score them (``report``).

    python benchmarks/compare_archs.py train --arch hybrid --minutes 40 --out runs/compare/hybrid
    python benchmarks/compare_archs.py train --arch liif   --minutes 40 --out runs/compare/liif
    python benchmarks/compare_archs.py report runs/compare/* --out benchmarks/compare

``train`` follows the learning-rate schedule on elapsed time rather than steps (warm-up, then a
cosine that reaches its floor when the minutes are spent), validates on the photos held out from
the ``train`` split (never on ``val``) and keeps the checkpoint that scores best there.
``report`` evaluates the kept checkpoints on the ``val`` photos (PSNR/SSIM per scale, latent gain,
grid score), pairs them per image with a bootstrap 95 % interval, and plots held-out PSNR against
training time. Run two trainings side by side with ``--threads 1`` each.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The options each architecture is compared with (tiny sizes: trainable on a CPU). The local
# read-out needs a few hidden layers (tiny's single decoder layer is for the attention read-out);
# 64 wide keeps its cost per pixel a fifth of the shipped attention decoder's.
# No pixel view (local_pixels 0): the decoder sees the bicubic base and the latents only, so what
# the encoder puts in the latents is what is compared (with the pixel view the decoder learns to
# ignore the latents: measured latent gain 0.00 dB).
LOCAL = dict(readout="local", residual=True, cell_input=True, local_pixels=0, decoder_dim=64,
             decoder_depth=3)
RECIPES: dict[str, dict] = {
    "hybrid": dict(LOCAL, lp_placement="interleave"),
    "mamba-ginr": dict(LOCAL, lp_placement="interleave"),
    "scent": dict(LOCAL),
    "liif": dict(decoder_depth=3),  # as LIIF: no residual, no pixel view (128 wide, tiny preset)
}


def train(args: argparse.Namespace) -> None:
    import torch

    from hinr.train.config import TrainConfig
    from hinr.train.timed import fit_for
    from hinr.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    overrides = dict(RECIPES[args.arch], **json.loads(args.overrides or "{}"))
    cfg = TrainConfig(data=args.data, arch=args.arch, preset=args.preset, model_overrides=overrides,
                      steps=10**6, batch_size=16, lr=args.lr, warmup=200, queries=512,
                      hr_size=256, recon_weight=0.25, degrade=args.degrade, val_every=10**9,
                      save_every=10**9, seed=args.seed, device="cpu", val_images=32,
                      init_from=args.init_from)
    out = Path(args.out)
    trainer = Trainer(cfg, out)
    log = (out / "timeline.jsonl").open("a")

    def record(row: dict) -> None:
        log.write(json.dumps(row) + "\n")
        log.flush()

    best = fit_for(trainer, args.minutes, val_points=args.val_points, on_validation=record)
    (out / "summary.json").write_text(json.dumps(
        {"arch": args.arch, "steps": trainer.step, "minutes": args.minutes, "threads": args.threads,
         "best_heldout_psnr": best, "params": trainer.model.num_parameters,
         "images_per_s": trainer.step * cfg.batch_size / (args.minutes * 60.0), "overrides": overrides,
         "cpu_seconds": resource.getrusage(resource.RUSAGE_SELF).ru_utime,
         "degrade": args.degrade, "seed": args.seed}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--arch", required=True, choices=sorted(RECIPES))
    t.add_argument("--preset", default="tiny")
    t.add_argument("--minutes", type=float, default=40.0)
    t.add_argument("--out", required=True)
    t.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "photos"))
    t.add_argument("--degrade", default="mixed")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--val-points", type=int, default=12)
    t.add_argument("--overrides", help="JSON of extra ModelConfig fields")
    t.add_argument("--init-from", help="start from these weights (their config wins over --overrides)")
    r = sub.add_parser("report")
    r.add_argument("runs", nargs="+")
    r.add_argument("--out", default="benchmarks/compare")
    args = parser.parse_args()
    if args.cmd == "train":
        train(args)
    else:
        from compare_report import report  # the scoring half lives beside this file

        report(args)


if __name__ == "__main__":
    main()
