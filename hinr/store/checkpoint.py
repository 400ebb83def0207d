"""Saving and loading models as self-describing safetensors files.

A checkpoint is one ``model.safetensors`` whose metadata carries the architecture config (JSON)
and the hinr version; a run folder or a shipped-weights folder holds it under that name. Loading
is strict and checks before it builds: the config's field types, then the config against the
file's own tensor names and shapes (read from the header, nothing allocated; a 1 KB file whose
config describes a huge model is refused, not built), then every value (NaN/Inf are refused).
Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..atomic import atomic_write
from .shipped import WEIGHTS_NAME, resolve_weights
from ..config import REGISTRY, ModelConfig
from ..errors import CheckpointError, HinrError, first_line
from ..models.hinr import HINR

CONFIG_KEY = "hinr_config"
VERSION_KEY = "hinr_version"
# fields that count stacked blocks (an architecture's own count too: its options ending so)
_DEPTH_FIELDS = ("encoder_depth", "processor_depth", "decoder_depth", "decoder_self_attn")
_DEPTH_ENDINGS = ("_depth", "_blocks")


def atomic_save_file(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str], *,
                     overwrite: bool = False, what: str = "weights") -> Path:
    """Write safetensors through :func:`hinr.atomic.atomic_write`: never a half-written file, and
    an existing file is replaced only with ``overwrite=True``."""
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata),
                        overwrite=overwrite, what=what)


def weights_output(path: str | Path) -> Path:
    """The file that saving weights to ``path`` writes: ``path`` itself when it names a
    .safetensors file, else ``path/model.safetensors`` (a run folder)."""
    path = Path(path)
    return path if path.suffix == ".safetensors" else path / WEIGHTS_NAME


def save_model(model: HINR, path: str | Path, *, extra_metadata: dict[str, str] | None = None,
               overwrite: bool = False) -> Path:
    """Save weights + config. ``path`` is a folder (gets model.safetensors) or a .safetensors file
    (:func:`weights_output`); an existing file raises OutputExistsError unless ``overwrite``."""
    path = weights_output(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {CONFIG_KEY: model.config.to_json(), VERSION_KEY: __version__, **(extra_metadata or {})}
    return atomic_save_file(tensors, path, metadata, overwrite=overwrite)


def resolve_weights_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}: pass a .safetensors file or a folder holding {WEIGHTS_NAME}")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    return read_header(path)[0]


def read_header(path: str | Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """(metadata, {tensor name: shape}) from the safetensors header, without reading any tensor."""
    from safetensors import safe_open

    path = resolve_weights_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
            return dict(f.metadata() or {}), shapes
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(err)}); "
                              "re-download or re-save it") from err


def read_config(path: str | Path | None = None) -> ModelConfig:
    """The architecture config of the weights ``load_model`` would load from ``path``, from the
    file's header alone (no tensor is read)."""
    path = resolve_weights(path)
    return config_from_metadata(read_metadata(path), source=path)


def load_model(path: str | Path | None = None, *, device: str | torch.device = "cpu") -> HINR:
    """Load a model saved by ``save_model`` (strictly: every tensor must match the config).

    ``path``: None (or "default") for the weights shipped with hinr, "jpeg" for the shipped model
    tuned for JPEG inputs, "hybrid" for the shipped hybrid-design model, a ``.safetensors`` file,
    a folder holding ``model.safetensors`` (a training run), or ``hf:owner/name[@revision][:file]``
    (Hugging Face Hub; see :mod:`hinr.store.shipped`).
    """

    path = resolve_weights(path)
    metadata, shapes = read_header(path)
    config = config_from_metadata(metadata, source=path)
    check_config_fits_file(config, shapes, source=path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({first_line(err)}); re-download or "
                              "re-save it") from err
    check_finite(state, source=path, what="weights tensor")
    model = HINR(config)
    load_state_strict(model, state, source=str(path))
    return model.to(device).eval()


def config_from_metadata(metadata: dict[str, str], *, source: str | Path) -> ModelConfig:
    """The ModelConfig in a file's metadata, its field types checked; CheckpointError naming ``source``."""
    if CONFIG_KEY not in metadata:
        raise CheckpointError(f"{source} has no hinr config in its metadata: it was not saved by hinr")
    try:
        data = json.loads(metadata[CONFIG_KEY])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{source}: its hinr config is not JSON ({err}); re-save it") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: its hinr config is not a JSON object; re-save it")
    try:
        data = ModelConfig.upgrade(data)  # flat fields of older files moved into options
        options = data.get("options", {})
        if not isinstance(options, dict):
            raise ValueError("its options are not a JSON object")
        own = data.get("arch") in REGISTRY and REGISTRY[data["arch"]].options
        fields = [(f, data) for f in dataclasses.fields(ModelConfig)]
        fields += [(f, options) for f in dataclasses.fields(own)] if own else []
        for field, values in fields:
            if field.name in values and field.name != "options":
                problem = _type_problem(values[field.name], field.default)
                if problem:
                    raise CheckpointError(f"{source}: config field {field.name} is "
                                          f"{values[field.name]!r}, expected {problem}; re-save the "
                                          "weights with hinr")
        return ModelConfig.from_dict(data)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{source}: invalid hinr config ({first_line(err)})") from err


def _type_problem(value, default) -> str | None:
    """What ``value`` should be, judged by the field's default; None when it fits."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "a whole number"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, tuple):
        ok = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
        return None if ok else "a list of finite numbers"
    return None


def check_config_fits_file(config: ModelConfig, shapes: dict[str, tuple[int, ...]], *,
                           source: str | Path) -> None:
    """Refuse a config that does not describe the file's tensors, building nothing real: sizes are
    first bounded by what the file holds, then the model is built on the meta device."""
    held = sum(math.prod(shape) for shape in shapes.values())
    values = {**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, **config.options}
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool) and value > max(held, 1):
            raise CheckpointError(f"{source}: config {name}={value} describes a model larger "
                                  f"than the {held:,} values the file holds; the file is damaged or "
                                  "not hinr's")
    if config.num_patches > max(held, 1):
        raise CheckpointError(f"{source}: config image_size={config.image_size}, patch_size="
                              f"{config.patch_size} makes {config.num_patches:,} patches, more than "
                              f"the {held:,} values the file holds; the file is damaged or not hinr's")
    depths = [name for name in values if name in _DEPTH_FIELDS
              or (name in config.options and name.endswith(_DEPTH_ENDINGS))]
    for name in depths:
        if values[name] > len(shapes):
            raise CheckpointError(f"{source}: config {name}={values[name]} needs more "
                                  f"tensors than the file's {len(shapes)}; the file is damaged or "
                                  "not hinr's")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in HINR(config).state_dict().items()}
    _compare(expected, shapes, source=str(source))


def _compare(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], *,
             source: str) -> None:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if extra:
            parts.append(f"unexpected {_names(extra)}")
        raise CheckpointError(f"{source} does not match its model config: {'; '.join(parts)}")
    for name, shape in found.items():
        if tuple(shape) != tuple(expected[name]):
            raise CheckpointError(f"{source}: tensor {name} has shape {tuple(shape)}, "
                                  f"the config expects {tuple(expected[name])}")


def check_finite(tensors: dict[str, torch.Tensor], *, source: str | Path, what: str,
                 fix: str = "use other weights", error: type[HinrError] = CheckpointError) -> None:
    """``error`` naming ``source`` and the first tensor holding NaN or Inf."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise error(f"{source}: {what} {name} holds {bad} NaN/Inf value(s); the file is damaged "
                        f"(or came from a diverged training): {fix}")


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    _compare({k: tuple(v.shape) for k, v in model.state_dict().items()},
             {k: tuple(v.shape) for k, v in state.items()}, source=source)
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
