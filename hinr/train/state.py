"""The resumable trainer state as safetensors: raw weights, EMA weights, AdamW moments, step and
RNG state. Tensors are flattened under prefixes; everything else rides in the metadata as JSON,
so resuming never unpickles anything. A damaged state, or one that no longer fits the run's
config, is one line naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..store.checkpoint import CheckpointError, atomic_save_file, check_finite
from ..errors import first_line

STATE_NAME = "trainer_state.safetensors"


class TrainStateError(CheckpointError):
    """A trainer state that cannot be resumed; the message names the file and what to do."""


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
    atomic_save_file(tensors, path, meta, overwrite=True, what="trainer state")


def read_state_step(path: Path) -> int:
    """The step a state file was saved at, from its header alone."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return int((f.metadata() or {})["step"])
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        raise TrainStateError(f"{path} is corrupt or truncated ({first_line(err)}): the run cannot "
                              "resume; start a new run with --init-from on its model.safetensors") from err


def load_state(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               ema: dict[str, torch.Tensor] | None, config_name: str = "train_config.json") -> tuple[int, dict]:
    """Restore in place; returns (step, extra). TrainStateError when the file is damaged or does
    not fit the model that ``config_name`` describes."""
    fix = "the run cannot resume; start a new run with --init-from on its model.safetensors"
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        step = int(meta["step"])
        groups = json.loads(meta["param_groups"])
        extra = json.loads(meta.get("extra", "{}"))
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        raise TrainStateError(f"{path} is corrupt or truncated ({first_line(err)}): {fix}") from err
    check_finite(tensors, source=path, what="trainer state", fix=fix, error=TrainStateError)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    mismatch = sorted(set(expected) ^ set(weights)) or [
        k for k in expected if tuple(expected[k].shape) != tuple(weights[k].shape)]
    if ema is not None:
        mismatch += [f"ema.{k}" for k in ema if f"ema.{k}" not in tensors]
    if mismatch or "rng.torch" not in tensors:
        shown = ", ".join(mismatch[:3]) or "rng.torch"
        raise TrainStateError(f"{path} does not match the model {config_name} describes (differs at "
                              f"{shown}): the config was changed since the state was saved; restore "
                              "it, or start a new run")
    model.load_state_dict(weights, strict=True)
    if ema is not None:
        for name in ema:
            ema[name].copy_(tensors[f"ema.{name}"])
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
        torch.set_rng_state(tensors["rng.torch"])
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        raise TrainStateError(f"{path}: its optimizer state does not fit the model {config_name} "
                              f"describes ({first_line(err)}): restore the config, or start a new "
                              "run") from err
    return step, extra


