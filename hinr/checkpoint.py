"""Saving and loading models as self-describing safetensors files.

A checkpoint is one ``model.safetensors`` whose metadata carries the architecture config (JSON)
and the hinr version; a run folder or a shipped-weights folder holds it under that name. Loading
is strict: a missing or unexpected tensor is an error that names it. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .config import ModelConfig
from .models.hinr import HINR

WEIGHTS_NAME = "model.safetensors"
CONFIG_KEY = "hinr_config"
VERSION_KEY = "hinr_version"


class CheckpointError(Exception):
    """A weights file that cannot be used; the message says why and what to do."""


def atomic_save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write safetensors to a temp file beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; weights are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model: HINR, path: str | Path, *, extra_metadata: dict[str, str] | None = None) -> Path:
    """Save weights + config. ``path`` is a folder (gets model.safetensors) or a .safetensors file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path / WEIGHTS_NAME
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {CONFIG_KEY: model.config.to_json(), VERSION_KEY: __version__, **(extra_metadata or {})}
    atomic_save_file(tensors, path, metadata)
    return path


def resolve_weights_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}: pass a .safetensors file or a folder holding {WEIGHTS_NAME}")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    path = resolve_weights_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err}); re-download or re-save it") from err


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> HINR:
    """Load a model saved by ``save_model`` (strictly: every tensor must match the config)."""
    path = resolve_weights_file(path)
    metadata = read_metadata(path)
    if CONFIG_KEY not in metadata:
        raise CheckpointError(f"{path} has no hinr config in its metadata: it was not saved by hinr")
    try:
        config = ModelConfig.from_json(metadata[CONFIG_KEY])
    except (ValueError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: invalid hinr config ({err})") from err
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({err}); re-download or re-save it") from err
    model = HINR(config)
    load_state_strict(model, state, source=str(path))
    return model.to(device).eval()


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if extra:
            parts.append(f"unexpected {_names(extra)}")
        raise CheckpointError(f"{source} does not match its model config: {'; '.join(parts)}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{source}: tensor {name} has shape {tuple(tensor.shape)}, "
                                  f"the config expects {tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=True)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A short sha256 over the weights (names, shapes, values): latents name the model that made them."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]
