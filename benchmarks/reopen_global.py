"""Restart the global path of a hybrid-v2 checkpoint trained with ``global_start="gate"`` the new
way (``global_start="output"``): its SCENT decoder's RGB layer set to zero and its gate opened
to 1, so the model renders what it did with the gate shut (its local part) and continued
training gives the global path gradients from the first step. For the pilot of the fix:

    python benchmarks/reopen_global.py weights/hybrid.safetensors runs/hybrid-reopened.safetensors
    nice -n 10 hinr train --init-from runs/hybrid-reopened.safetensors --data ../shared/photos \\
        --hr-size 256 --batch-size 16 --queries 512 --recon-weight 0.25 --lr 2e-4 --warmup 50 ...
    python benchmarks/ablate.py --weights RUN --parts no-global     # what the path adds now
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def reopen(model) -> None:
    """In place: global RGB layer → 0, gate → 1, config says global_start='output'."""
    decoder = model.decoder
    if not hasattr(decoder, "global_gate"):
        raise SystemExit(f"a {model.config.arch} model has no gated global path (hybrid-v2 has)")
    with torch.no_grad():
        decoder.globe.to_rgb.weight.zero_()
        decoder.globe.to_rgb.bias.zero_()
        decoder.global_gate.fill_(1.0)
    model.config = dataclasses.replace(model.config, global_start="output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    from hinr.store.checkpoint import load_model, save_model

    model = load_model(args.weights)
    reopen(model)
    print(save_model(model, args.out))


if __name__ == "__main__":
    main()
