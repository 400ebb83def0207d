"""Latents on disk: what ``hinr encode`` writes and ``hinr render`` reads.

One safetensors file holds ``tokens`` (N, M, D), the latent tokens, and ``inputs`` (N, 3, S, S), the
model-sized inputs they were encoded from (residual and local-pixel decoders read them), plus JSON
metadata: the hinr version, the architecture config, ``weights_hash`` (``weights_fingerprint`` of
the model that made them), the source file names and their original sizes (width, height).

Latents only mean something to the weights that made them, so loading against a model checks the
hash and refuses a mismatch. Tokens and stored inputs must be finite and of the documented shapes;
a damaged file is refused with a message naming the file and the tensor. Nothing is ever
unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from .. import __version__
from .checkpoint import (CONFIG_KEY, VERSION_KEY, CheckpointError, atomic_save_file, check_finite,
                         weights_fingerprint)
from ..models.hinr import HINR, Latents
from ..errors import first_line
from ..io.metadata import from_record, to_record

FORMAT_KEY = "hinr_latents"
FORMAT_VERSION = "1"
HASH_KEY = "weights_hash"


class LatentsError(CheckpointError):
    """A latents file that cannot be used; the message says why and what to do."""


@dataclass
class LatentsFile:
    """Latents read from disk with what they say about themselves."""

    latents: Latents  # tokens (N, M, D), images (N, 3, S, S)
    weights_hash: str
    config_json: str
    sources: list[str]
    input_sizes: list[tuple[int, int]]  # (width, height) of each source
    version: str
    metadata: list = None  # each source's hinr.io.metadata.Metadata (or None), for the renders


def save_latents(path: str | Path, latents: Latents, *, model: HINR, sources: list[str],
                 input_sizes: list[tuple[int, int]], overwrite: bool = False,
                 source_metadata: list | None = None) -> Path:
    """Write latents made by ``model`` (atomically); ``sources`` and ``input_sizes`` one per image.
    An existing ``path`` raises OutputExistsError unless ``overwrite``."""
    path = Path(path)
    n = len(latents)
    if len(sources) != n or len(input_sizes) != n:
        raise ValueError(f"{n} latents need {n} sources and input sizes, got {len(sources)} and "
                         f"{len(input_sizes)}")
    tensors = {"tokens": latents.tokens.detach().float().cpu().contiguous(),
               "inputs": latents.images.detach().float().cpu().contiguous()}
    metadata = {FORMAT_KEY: FORMAT_VERSION, VERSION_KEY: __version__,
                CONFIG_KEY: model.config.to_json(), HASH_KEY: weights_fingerprint(model),
                "sources": json.dumps(list(sources)),
                "input_sizes": json.dumps([list(map(int, s)) for s in input_sizes])}
    if source_metadata is not None and any(source_metadata):  # colour profile, EXIF, XMP (no GPS)
        metadata["source_metadata"] = json.dumps([to_record(m) for m in source_metadata])
    return atomic_save_file(tensors, path, metadata, overwrite=overwrite, what="latents")


def load_latents(path: str | Path, *, model: HINR | None = None) -> LatentsFile:
    """Read and validate a latents file; with ``model``, refuse latents made by other weights."""
    path = Path(path)
    if not path.exists():
        raise LatentsError(f"{path} does not exist: pass the file `hinr encode -o` wrote")
    if path.is_dir():
        raise LatentsError(f"{path} is a folder: pass the .safetensors file `hinr encode -o` wrote")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            names = set(handle.keys())
            if {"tokens", "inputs"} - names:
                what = "model weights" if CONFIG_KEY in metadata and HASH_KEY not in metadata else \
                    f"{len(names)} other tensors"
                raise LatentsError(f"{path} holds no hinr latents ({what}): make them with `hinr encode`")
            tokens, inputs = handle.get_tensor("tokens"), handle.get_tensor("inputs")
    except LatentsError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise LatentsError(f"{path} is corrupt or truncated ({first_line(err)}): encode the images "
                           "again") from err
    found = metadata.get(FORMAT_KEY)
    if found is not None and found != FORMAT_VERSION:
        newer = found.isdigit() and FORMAT_VERSION.isdigit() and int(found) > int(FORMAT_VERSION)
        raise LatentsError(f"{path} is hinr latents format {found}, "
                           + ("made by a newer hinr" if newer else "not one this hinr knows")
                           + f"; this hinr {__version__} reads format {FORMAT_VERSION}: "
                           + ("upgrade hinr" if newer else "encode the images again"))
    if found != FORMAT_VERSION or HASH_KEY not in metadata or CONFIG_KEY not in metadata:
        raise LatentsError(f"{path} is not a hinr latents file (its metadata lacks {FORMAT_KEY}, "
                           f"{HASH_KEY} or {CONFIG_KEY}): make it with `hinr encode`")
    try:
        sources = [str(s) for s in json.loads(metadata.get("sources", "[]"))]
        sizes = [(int(w), int(h)) for w, h in json.loads(metadata.get("input_sizes", "[]"))]
        records = json.loads(metadata.get("source_metadata", "null")) or [None] * len(sources)
    except (ValueError, TypeError) as err:
        raise LatentsError(f"{path} has unreadable metadata ({err}): encode the images again") from err
    if tokens.ndim != 3:
        raise LatentsError(f"{path}: its tokens have shape {tuple(tokens.shape)}, expected (N, M, D): "
                           "encode the images again")
    n = tokens.shape[0]
    if inputs.ndim != 4 or inputs.shape[0] != n or inputs.shape[1] != 3 or inputs.shape[2] != inputs.shape[3]:
        raise LatentsError(f"{path}: its stored inputs have shape {tuple(inputs.shape)}, expected "
                           f"({n}, 3, S, S) for its {n} latents: encode the images again")
    if len(sources) != n or len(sizes) != n:
        raise LatentsError(f"{path} is inconsistent ({n} latents, {len(sources)} sources, "
                           f"{len(sizes)} sizes): encode the images again")
    check_finite({"tokens": tokens, "inputs (stored input pixels)": inputs}, source=path,
                 what="latents", fix="encode the images again", error=LatentsError)
    found = LatentsFile(latents=Latents(tokens.float(), inputs.float()), weights_hash=metadata[HASH_KEY],
                        config_json=metadata[CONFIG_KEY], sources=sources, input_sizes=sizes,
                        version=metadata.get(VERSION_KEY, "?"),
                        metadata=[from_record(r) for r in records][:n] + [None] * max(0, n - len(records)))
    if model is not None:
        check_latents_match(found, model, source=path)
    return found


def check_latents_match(found: LatentsFile, model: HINR, *, source: str | Path) -> None:
    """Raise LatentsError unless ``found`` was made by exactly ``model``'s weights."""
    expected = weights_fingerprint(model)
    if found.weights_hash != expected:
        raise LatentsError(f"{source} was encoded by other weights (hash {found.weights_hash}, these "
                           f"are {expected}): render with the --weights that encoded it, or encode again")
    s = model.config.image_size
    tokens, inputs = found.latents.tokens, found.latents.images
    if tokens.shape[1:] != (model.config.num_latents, model.config.dim):
        raise LatentsError(f"{source} has tokens {tuple(tokens.shape)} that do not fit this model "
                           f"(N, {model.config.num_latents}, {model.config.dim}): encode the images "
                           "again")
    if inputs.shape[1:] != (3, s, s):
        raise LatentsError(f"{source} has stored inputs {tuple(inputs.shape)} that do not fit this "
                           f"model (N, 3, {s}, {s}): encode the images again")


def shipped_encoder(found: "LatentsFile", device) -> HINR:
    """The shipped model whose weights encoded the latents ``found`` (the default when none did,
    so that the check that follows names the mismatch)."""
    from .checkpoint import load_model, weights_fingerprint
    from .shipped import SHIPPED, shipped_weights

    first = None
    for name in SHIPPED:
        if shipped_weights(name).is_file():
            model = load_model(name, device=device)
            first = first or model
            if weights_fingerprint(model) == found.weights_hash:
                return model
    return first if first is not None else load_model(None, device=device)
