"""Loading the model a command runs and sizing its work: weights by name, the shipped model that
made some latents, the wording of an input's coding, and the chunk that fits in memory."""

from __future__ import annotations

from .errors import RuntimeFailure


def load_weights(spec: str | None, device):
    from ..io.checkpoint import load_model
    from ..io.weights import resolve_weights

    return load_model(resolve_weights(spec), device=device)


def shipped_encoder(found, device):
    """The shipped model whose weights encoded the latents ``found`` (the default when none did, so
    that the check that follows names the mismatch)."""
    from ..io.checkpoint import weights_fingerprint
    from ..io.weights import SHIPPED, shipped_weights

    first = None
    for name in SHIPPED:
        if shipped_weights(name).is_file():
            model = load_weights(name, device)
            first = first or model
            if weights_fingerprint(model) == found.weights_hash:
                return model
    return first if first is not None else load_weights(None, device)


def describe_coding(coding) -> str:
    """'a JPEG file (quality 75, 4:2:0)' or 'a lossy WebP file'."""
    if coding.format == "WEBP":
        return "a lossy WebP file"
    return f"a JPEG file (quality {coding.quality}, {coding.subsampling})"


def fit_memory(model, sizes: list[tuple[int, int]], *, chunk: int, batch: int = 1,
               ensemble: int = 1) -> int:
    """The chunk capped by memory (``hinr.inference.memory``); RuntimeFailure if the largest output cannot fit."""
    from ..inference.memory import available_bytes, cap_chunk, gib, render_bytes

    chunk = cap_chunk(chunk, model.config, batch=batch)
    available = available_bytes()
    if available is None or not sizes:
        return chunk
    width, height = max(sizes, key=lambda s: s[0] * s[1])
    need = render_bytes(model.config, height, width, chunk=chunk, batch=batch, ensemble=ensemble)
    if need > available:
        raise RuntimeFailure(f"{width}x{height} needs about {gib(need)} of memory and {gib(available)} "
                             "is available: choose a smaller --size (or fewer at once)")
    return chunk
