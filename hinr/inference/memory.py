"""What a render needs in memory, estimated before it starts, so that a size that cannot fit is
refused in one clear line instead of failing in the allocator (or swapping) halfway.

Three parts grow with the job:

- the decoder's working set: ``bytes_per_query(config)`` per query decoded at once (attention
  scores and feed-forward activations; for the local read-out, four corners' hidden layers; an
  architecture may give its own, ``Architecture.bytes_per_query``). The first hybrid's attention
  decoder measured 7–10 KB a query on the CPU (fp32, 4 096–65 536 queries a chunk); the estimate
  is about 1.5× that, to stay on the safe side.
  ``cap_chunk`` keeps one chunk under ``CHUNK_BUDGET`` whatever ``--chunk`` asks.
- for a model that encodes whole images, one core of at most ``WHOLE_TILE``² input pixels and
  its halo: a few encoder activations and the read-out's context per input pixel;
- the output: ``BYTES_PER_PIXEL`` for each output pixel (float buffers, then 8- or 16-bit planes
  while the file is written); measured 27 (upscale) to 48 (render) bytes at 2048².

A decoder with query self-attention cannot be chunked: its working set is quadratic in the pixels.
"""

from __future__ import annotations

import os

from ..config import ModelConfig
from ..errors import NotEnoughMemoryError

CHUNK_BUDGET = 512 * 2**20  # bytes one chunk of queries may take
BYTES_PER_PIXEL = 64  # output buffers and the file being written, per output pixel
ENSEMBLE_BYTES_PER_PIXEL = 24  # extra per pixel when passes are averaged
BASE_BYTES = 400 * 2**20  # torch, the model and the process itself
# whole-image encoding (``ModelConfig.whole_image``) goes in cores of at most WHOLE_TILE² input px
# (plus a halo): the encoder's activations and the read-out's per-latent context for one core
WHOLE_TILE = 768


def bytes_per_query(config: ModelConfig) -> int:
    """Estimated decoder working set per query, in bytes (float32)."""
    own = config.architecture.bytes_per_query  # the architecture's own model (None: as below)
    estimate = own(config) if own is not None else None
    if estimate is not None:
        return estimate
    if config.readout == "local":  # four corners through the MLP, whatever the number of latents
        return 4 * (4 * 3 * config.decoder_dim + 32)
    width = config.decoder_dim  # the SCENT decoder
    floats = (2 * config.decoder_heads * config.num_latents  # attention scores and their softmax
              + 2 * width * config.decoder_ff_mult + 4 * width  # GEGLU hidden and the residual stream
              + 2 * config.fourier_features + 6 * config.local_pixels ** 2)
    return 4 * floats


def cap_chunk(chunk: int, config: ModelConfig, *, batch: int = 1, budget: int = CHUNK_BUDGET) -> int:
    """``chunk`` lowered so that ``batch`` images × chunk queries stay under ``budget`` bytes."""
    return max(1, min(chunk, budget // (bytes_per_query(config) * max(1, batch))))


def render_bytes(config: ModelConfig, height: int, width: int, *, chunk: int, batch: int = 1,
                 ensemble: int = 1) -> int:
    """Estimated peak bytes of rendering ``batch`` images of height × width, ``chunk`` queries a call."""
    pixels = height * width
    per_pixel = BYTES_PER_PIXEL + (ENSEMBLE_BYTES_PER_PIXEL if ensemble > 1 else 0)
    if config.chunkable:
        working = batch * min(chunk, pixels) * bytes_per_query(config)
    else:  # query self-attention: every query attends to every other
        working = batch * pixels * (bytes_per_query(config) + 4 * config.heads * pixels)
    if config.whole_image:
        core = (WHOLE_TILE + 2 * config.receptive_radius) ** 2
        working += core * 4 * (4 * config.dim + config.decoder_dim)
    return BASE_BYTES + batch * pixels * per_pixel + working


def available_bytes() -> int | None:
    """Memory a new allocation here may take: the least of the machine's available memory (Linux
    MemAvailable), what this process's address-space limit leaves (RLIMIT_AS, ``ulimit -v``) and
    what its cgroup's limit leaves (``memory.max``, a container's); None if none is known."""
    limits = [bound for bound in (_machine_available(), _rlimit_left(), _cgroup_left()) if bound is not None]
    return min(limits) if limits else None


def _machine_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _rlimit_left() -> int | None:
    """RLIMIT_AS minus the address space in use (VmSize), or None when unlimited."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status", encoding="ascii") as status:
            used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
        return max(0, soft - used)
    except (ImportError, OSError, ValueError, StopIteration):
        return None


CGROUP_ROOT = "/sys/fs/cgroup"


def _cgroup_left(root: str = CGROUP_ROOT) -> int | None:
    """The cgroup (v2) memory.max of this process minus its memory.current, or None."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as cgroup:
            path = next(line.split(":", 2)[2].strip() for line in cgroup if line.startswith("0::"))
        folder = os.path.join(root, path.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as limit:
            text = limit.read().strip()
        if text == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as current:
            return max(0, int(text) - int(current.read().strip()))
    except (OSError, ValueError, StopIteration, IndexError):
        return None


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def fit_memory(model, sizes: list[tuple[int, int]], *, chunk: int, batch: int = 1,
               ensemble: int = 1) -> int:
    """``chunk`` capped by memory for rendering the largest of ``sizes`` ((width, height));
    NotEnoughMemoryError if that output cannot fit."""
    chunk = cap_chunk(chunk, model.config, batch=batch)
    available = available_bytes()
    if available is None or not sizes:
        return chunk
    width, height = max(sizes, key=lambda s: s[0] * s[1])
    need = render_bytes(model.config, height, width, chunk=chunk, batch=batch, ensemble=ensemble)
    if need > available:
        raise NotEnoughMemoryError(f"{width}x{height} needs about {gib(need)} of memory and "
                                   f"{gib(available)} is available: choose a smaller --size (or "
                                   "fewer at once)")
    return chunk
