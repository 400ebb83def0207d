"""The resumable trainer state as safetensors: raw weights, EMA weights, AdamW moments, step and
RNG state. Tensors are flattened under prefixes; everything else rides in the metadata as JSON,
so resuming never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..checkpoint import atomic_save_file

STATE_NAME = "trainer_state.safetensors"


def save_state(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               ema: dict[str, torch.Tensor] | None, step: int, extra: dict | None = None) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        tensors[f"model.{name}"] = value.detach().cpu().contiguous()
    for name, value in (ema or {}).items():
        tensors[f"ema.{name}"] = value.detach().cpu().contiguous()
    opt = optimizer.state_dict()
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"step": str(step), "param_groups": json.dumps(opt["param_groups"]),
            "extra": json.dumps(extra or {})}
    atomic_save_file(tensors, path, meta)


def load_state(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               ema: dict[str, torch.Tensor] | None) -> tuple[int, dict]:
    """Restore in place; returns (step, extra)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    if ema is not None:
        for name in ema:
            ema[name].copy_(tensors[f"ema.{name}"])
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), json.loads(meta.get("extra", "{}"))
