"""Architecture configuration: one JSON-friendly dataclass and its named presets.

The config describes the network only (no training settings); it is the one thing saved beside
the weights, so a checkpoint rebuilds its own model. Three architectures share the parts:

- ``hybrid``     — MAMBA-GINR BiMamba encoder → SCENT processor → SCENT decoder (hinr's design).
- ``mamba-ginr`` — the same encoder → LAINR-style multi-band decoder, no processor.
- ``scent``      — cascaded Perceiver encoder → SCENT processor → SCENT decoder.
- ``hybrid-v2``  — a convolutional stem at full resolution → BiMamba over its 2×2-unshuffled
  patch tokens and LP tokens, scans alternating row / column order → SCENT processor over the LP
  latents → LIIF's local read-out over the stem + scan features, plus the SCENT decoder over the
  global latents through a gate that starts at zero (hinr/models/hybrid_v2.py).
- ``liif``       — EDSR-baseline convolutional encoder → LIIF's local MLP read-out (the
  arbitrary-scale SR baseline; one latent per input pixel).

``readout = "local"`` swaps any architecture's global cross-attention for LIIF's local read-out
on the latent grid (hinr/models/local_decoder.py); ``liif`` always reads out locally.

``base`` is the design exactly as written; ``small`` and ``tiny`` are sizes that train on a CPU.
The options past the design (``residual``, ``locality``, ``cell_input``, ``local_pixels``) are all
off in ``base`` and can be switched on for any architecture (see README "Decoder options").
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

INPUT_SIZE = 32  # the side of the images a model reads (ModelConfig.image_size's default)
DEFAULT_CHUNK = 16384  # queries decoded per call and image when rendering (bounds memory)
READOUTS = ("attention", "local")
LP_PLACEMENTS = ("append", "interleave")
LP_INTERLEAVES = ("mamba-ginr", "round")
GLOBAL_STARTS = ("output", "gate")  # hybrid-v2's global_start


@dataclass
class ModelConfig:
    arch: str = "hybrid"  # one of ARCHITECTURES
    # --- input and tokens -------------------------------------------------------------------
    image_size: int = INPUT_SIZE  # the encoder's input side; larger images are tiled or encoded whole
    patch_size: int = 2  # 2×2 patches → (32/2)² = 256 patch tokens
    dim: int = 256  # width of encoder tokens, latents and processor
    num_latents: int = 256  # LP tokens / Perceiver latents; a square (they map onto a 2D grid)
    # --- MAMBA-GINR encoder -----------------------------------------------------------------
    lp_placement: str = "append"  # design note: append, keep the last M; or MAMBA-GINR's interleave
    # interleaved positions: MAMBA-GINR's floor rule; "round" is what configs saved without this
    # field were built with (from_dict fills it in), so their weights compute what they did
    lp_interleave: str = "mamba-ginr"
    encoder_depth: int = 6  # BiMamba blocks (MAMBA-GINR used 6)
    encoder_mlp_ratio: float = 4.0  # MLP after each BiMamba: dim → 4·dim → dim (256 → 1024 → 256)
    bimamba_merge: str = "mean"  # "mean" (MAMBA-GINR) or "concat" (concat + linear)
    stem_depth: int = 4  # hybrid-v2: residual conv blocks at full resolution before the scan
    scan_order: str = "alternate"  # hybrid-v2: patch order per BiMamba block: row | alternate (row, column, …)
    # hybrid-v2: how the global path starts silent (an initialisation only; loading ignores it).
    # "output": its RGB layer at zero and its gate open at 1, so the layer's gradient is the
    # global features from the first step; "gate": the gate at 0 (the first runs: the gate and
    # every global gradient start at exactly zero, and the gate stayed within ±0.001 in 6k steps)
    global_start: str = "output"
    d_state: int = 16  # mamba_ssm defaults
    d_conv: int = 4
    expand: int = 2
    # --- SCENT cascaded Perceiver encoder ----------------------------------------------------
    perceiver_blocks: int = 3  # cascaded blocks, each adds a projection of the previous latents
    pixel_fourier_features: int = 96  # per-pixel Gaussian Fourier frequencies (192 dims)
    pixel_fourier_scale: float = 15.0
    # --- SCENT processor ----------------------------------------------------------------------
    processor_depth: int = 4  # pre-norm self-attention + GEGLU blocks over the latents
    heads: int = 8
    dim_head: int = 64
    ff_mult: int = 4
    # --- SCENT decoder ------------------------------------------------------------------------
    decoder_dim: int = 512
    decoder_depth: int = 3  # stacked GEGLU feed-forwards (512 → 2048 → 512)
    decoder_heads: int = 8
    decoder_dim_head: int = 64
    decoder_ff_mult: int = 4
    decoder_self_attn: int = 0  # query self-attention blocks; > 0 forbids chunked rendering
    fourier_features: int = 256  # Gaussian Fourier frequencies of the query (2·F dims)
    fourier_scale: float = 15.0  # std of the frequency matrix (coordinates in [-1, 1])
    # --- LAINR-style multi-band decoder (mamba-ginr) -------------------------------------------
    lainr_hidden: int = 256
    lainr_heads: int = 2
    lainr_dim_head: int = 64
    lainr_bands: tuple[float, ...] = (128.0, 32.0)  # highest frequency of each band, coarse last
    lainr_query_max_freq: float = 16.0
    lainr_freqs_per_band: int = 16
    # --- options beyond the design (all off in base) -----------------------------------------
    residual: bool = False  # output = PIL-exact bicubic of the input + the decoder's correction
    # output = the decoder's + s·(bicubic − ½), s a learned per-channel weight (LTE's skip of the
    # upsampled input); unlike ``residual`` it can be added to a trained model at s = 0
    base_skip: bool = False
    locality: bool = False  # 2D distance bias in cross-attention + query offset from its cell
    cell_input: bool = False  # the decoder sees the output pixel size (LIIF cell decoding)
    local_pixels: int = 0  # k > 0: the decoder sees the k×k input pixels around the query
    # --- read-out (old checkpoints have no such fields: they load as "attention") -------------
    readout: str = "attention"  # "attention": global cross-attention; "local": LIIF's local ensemble
    unfold: bool = True  # local read-out: each latent also carries its 3×3 neighbours (LIIF)
    # --- the architecture's own fields (its ``Architecture.options`` dataclass, declared in its
    # module; {} for the architectures that have none, and in checkpoints saved before the field)
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lainr_bands = tuple(float(b) for b in self.lainr_bands)
        if self.arch not in REGISTRY:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(REGISTRY)}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}")
        architecture = REGISTRY[self.arch]
        self.options = architecture.check_options(self.options)
        if architecture.validate is not None:
            architecture.validate(self)
        if self.readout == "local" and self.image_size % self.latent_grid:
            raise ValueError("the local read-out needs image_size to be a multiple of the latent grid side")
        if self.base_skip and self.residual:
            raise ValueError("base_skip and residual both add the bicubic base: choose one")
        if self.lp_placement not in LP_PLACEMENTS:
            raise ValueError(f"unknown lp_placement {self.lp_placement!r}; choose {LP_PLACEMENTS}")
        if self.lp_interleave not in LP_INTERLEAVES:
            raise ValueError(f"unknown lp_interleave {self.lp_interleave!r}; choose {LP_INTERLEAVES}")
        if self.global_start not in GLOBAL_STARTS:
            raise ValueError(f"global_start must be one of {GLOBAL_STARTS}, got {self.global_start!r}")
        if self.scan_order not in ("row", "alternate"):
            raise ValueError("scan_order must be 'row' or 'alternate'")
        if self.bimamba_merge not in ("mean", "concat"):
            raise ValueError("bimamba_merge must be 'mean' or 'concat'")
        if self.image_size % self.patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        if math.isqrt(self.num_latents) ** 2 != self.num_latents:
            raise ValueError("num_latents must be a square number (latents sit on a 2D grid)")
        if self.readout == "local":
            stride = self.image_size // math.isqrt(self.num_latents)
            if self.local_pixels and (self.local_pixels < stride or (self.local_pixels - stride) % 2
                                      or self.local_pixels > 12):
                raise ValueError(f"local_pixels with the local read-out must be ≥ {stride}, at most "
                                 f"12, and differ from {stride} (pixels per latent cell) by an even "
                                 "number: the window centres on the cell")
        elif self.local_pixels not in range(0, 13, 2):  # even: the taps centre on the query
            raise ValueError("local_pixels must be 0 (off) or an even number up to 12")
        for name in ("dim", "heads", "dim_head", "decoder_dim", "fourier_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.encoder_depth < 0:  # 0: no BiMamba (an ablation of the hybrids)
            raise ValueError("encoder_depth must be ≥ 0")

    # ----------------------------------------------------------------------------------------
    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def latent_grid(self) -> int:
        """Side of the 2D grid the latents map onto (16 for 256 latents)."""
        return math.isqrt(self.num_latents)

    @property
    def architecture(self) -> "Architecture":
        return REGISTRY[self.arch]

    @property
    def arch_options(self):
        """The architecture's own fields as its options dataclass (``Architecture.options``)."""
        return self.architecture.options(**self.options)

    @property
    def num_tokens(self) -> int:
        """Tokens ``encode`` makes per image (the latents, unless the architecture says more)."""
        tokens = self.architecture.tokens
        return tokens(self) if tokens is not None else self.num_latents

    @property
    def whole_image(self) -> bool:
        """True when an image of any size can be encoded at once (its architecture's
        ``receptive_radius`` is known: a fully convolutional encoder read out locally)."""
        return self.architecture.receptive_radius is not None

    @property
    def any_input_size(self) -> bool:
        """True when ``encode`` takes inputs of sides other than ``image_size``: what
        ``--input-size`` needs (``Architecture.any_input_size``)."""
        return self.architecture.any_input_size

    @property
    def receptive_radius(self) -> int:
        """For ``whole_image`` models: how many input pixels beyond its own cell an output pixel
        depends on, so tiles overlapping by this much agree with the whole image."""
        return self.architecture.receptive_radius(self)

    @property
    def chunkable(self) -> bool:
        """True when each query is decoded independently, so rendering can be chunked."""
        return self.decoder_self_attn == 0 or self.arch == "mamba-ginr" or self.readout == "local"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}: made by a newer hinr? Upgrade hinr.")
        return cls(**{"lp_interleave": "round", **data})  # saved before the field: the old rule

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


# Sizes ------------------------------------------------------------------------------------------
# base: the design as written. small / tiny: CPU-trainable (see README for measured speeds).
_SIZES: dict[str, dict] = {
    "base": {},
    "small": dict(
        dim=128, encoder_depth=2, processor_depth=2, heads=4, dim_head=32,
        decoder_dim=256, decoder_depth=2, decoder_heads=4, decoder_dim_head=32,
        fourier_features=128, perceiver_blocks=2, pixel_fourier_features=48,
        lainr_hidden=128, lainr_dim_head=32,
    ),
    "tiny": dict(
        dim=64, encoder_depth=1, encoder_mlp_ratio=2.0, processor_depth=1, heads=4, dim_head=16,
        ff_mult=2, decoder_dim=128, decoder_depth=1, decoder_heads=4, decoder_dim_head=16,
        decoder_ff_mult=2, fourier_features=64, perceiver_blocks=1, pixel_fourier_features=32,
        lainr_hidden=64, lainr_dim_head=16,
    ),
}
PRESETS = tuple(_SIZES)

# Architectures -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """Everything hinr knows of one architecture, in one row (``register_architecture``).

    ``parts`` names, as "module:function" (imported only when a model is built, so this module
    stays free of torch) or as the function itself, what builds its modules: config →
    ``hinr.models.parts.Parts``. Fields of ``ModelConfig`` come, last wins, from the shared size
    (``sizes`` replaces it per preset), ``defaults``, ``fixed`` (what the architecture is, whatever
    its size) and the caller's overrides. The optional hooks: ``validate`` (refuse configs it
    cannot build, ValueError), ``tokens`` (tokens ``encode`` makes per image), ``receptive_radius``
    (the input pixels an output pixel depends on, for a model that encodes whole images),
    ``trains_any_size`` (its encoder also reads inputs of other even sides, so it can train on
    them, while upscaling still tiles at ``image_size``),
    ``bytes_per_query`` (its decoder's working set, for the memory check), ``describe``
    ((encoder, decoder) for ``hinr models``) and ``derive`` (fields that follow from the others,
    given the preset's fields and the overrides).
    """

    name: str
    description: str
    parts: str | Callable
    sizes: Mapping[str, Mapping] = field(default_factory=dict)
    defaults: Mapping = field(default_factory=dict)
    fixed: Mapping = field(default_factory=dict)
    validate: Callable[[ModelConfig], None] | None = None
    tokens: Callable[[ModelConfig], int] | None = None
    receptive_radius: Callable[[ModelConfig], int] | None = None
    trains_any_size: bool = False
    bytes_per_query: Callable[[ModelConfig], int] | None = None
    describe: Callable[[ModelConfig], tuple[str, str]] | None = None
    derive: Callable[[dict], dict] | None = None  # fields that follow from the others
    options: type | None = None  # a dataclass of the fields only this architecture has
    # whether `hinr train`'s recipe for hinr's attention decoders (--residual, --locality,
    # --local-pixels on) applies; False: the architecture's own defaults (liif as published, and
    # the hybrids that read out locally by design)
    train_recipe: bool = True

    def check_options(self, options: Mapping) -> dict:
        """``options`` filled in with the options dataclass's defaults (ValueError on an unknown
        field, or on any for an architecture without options)."""
        if self.options is None:
            if options:
                raise ValueError(f"{self.name} has no options of its own, got {sorted(options)}")
            return {}
        names = {f.name for f in dataclasses.fields(self.options)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"unknown {self.name} options {unknown}; its options are {sorted(names)}")
        return dataclasses.asdict(self.options(**options))

    @property
    def any_input_size(self) -> bool:
        """Whether its encoder reads inputs of other sides: a whole-image model (a known
        ``receptive_radius``) or one that ``trains_any_size``."""
        return self.receptive_radius is not None or self.trains_any_size


class _Registry(Mapping):
    """name → ``Architecture``. A built-in architecture written as one file (its fields, its row
    and its modules together) is listed in ``BUILT_IN`` by the module that registers it, and is
    imported the first time its row is asked for, so that listing names stays free of torch."""

    def __init__(self, lazy: Mapping[str, str]) -> None:
        self._rows: dict[str, Architecture] = {}
        self._lazy = dict(lazy)

    def add(self, architecture: Architecture) -> None:
        self._rows[architecture.name] = architecture
        self._lazy.pop(architecture.name, None)

    def __getitem__(self, name: str) -> Architecture:
        if name not in self._rows and name in self._lazy:
            importlib.import_module(self._lazy[name])  # its module registers it
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:  # a snapshot: looking a lazy row up while iterating adds it
        return iter([*self._rows, *(name for name in self._lazy if name not in self._rows)])

    def __len__(self) -> int:
        return len(set(self._rows) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        return name in self._rows or name in self._lazy

    def pop(self, name: str) -> Architecture:
        """Remove a registered architecture (tests register and remove their own)."""
        return self._rows.pop(name)


# the architectures that are one module each: name → the module holding (and registering) it
BUILT_IN = {"hybrid-v3": "hinr.models.hybrid_v3"}
REGISTRY = _Registry(BUILT_IN)


def register_architecture(architecture: Architecture) -> Architecture:
    """Add an architecture (a new one is its own file plus this one call)."""
    REGISTRY.add(architecture)
    return architecture


def _needs_wide_tokens(c: ModelConfig) -> None:
    if c.dim <= 32:
        raise ValueError("dim must exceed 32: the patch tokens carry a fixed 32-d position code")


def _liif_checks(c: ModelConfig) -> None:
    if c.readout != "local":
        raise ValueError("the liif architecture reads out locally: set readout='local'")
    if c.num_latents != c.image_size**2:
        raise ValueError("liif has one latent per input pixel: num_latents must be image_size²")


def _hybrid_v2_checks(c: ModelConfig) -> None:
    if c.readout != "local" or c.residual:
        raise ValueError("hybrid-v2 reads out locally (readout='local') and has no residual: "
                         "drop --residual (--base-skip adds the bicubic base)")


def _attention_or_local(c: ModelConfig, name: str) -> str:
    if c.readout == "local":
        return f"local MLP {c.decoder_dim} × {c.decoder_depth}"
    return name


register_architecture(Architecture(
    "hybrid", "MAMBA-GINR's BiMamba encoder → SCENT processor → SCENT decoder (the design)",
    "hinr.models.parts:hybrid_parts", validate=_needs_wide_tokens,
    describe=lambda c: (f"BiMamba ×{c.encoder_depth}",
                        _attention_or_local(c, f"SCENT {c.decoder_dim}, {c.decoder_depth} FF"))))
# hybrid-v2: `dim` the stem, token and latent width; `encoder_depth` BiMamba blocks;
# `decoder_dim`/`decoder_depth` the local MLP (liif's); the global SCENT decoder is
# `fourier_features` / `decoder_heads` × `decoder_dim_head` wide at `dim`
register_architecture(Architecture(
    "hybrid-v2", "conv stem → BiMamba (row/column scans) + LP tokens → SCENT processor → LIIF "
    "read-out + gated SCENT decoder", "hinr.models.parts:hybrid_v2_parts",
    sizes={
        "base": dict(dim=256, stem_depth=8, encoder_depth=6, num_latents=256, processor_depth=4,
                     heads=8, dim_head=64, decoder_dim=256, decoder_depth=4, decoder_heads=8,
                     decoder_dim_head=64, fourier_features=128),
        "small": dict(dim=64, stem_depth=8, encoder_depth=4, encoder_mlp_ratio=2.0, num_latents=64,
                      processor_depth=2, heads=4, dim_head=16, ff_mult=2, decoder_dim=128,
                      decoder_depth=3, decoder_heads=2, decoder_dim_head=16, fourier_features=32),
        "tiny": dict(dim=32, stem_depth=4, encoder_depth=2, encoder_mlp_ratio=2.0, num_latents=64,
                     processor_depth=1, heads=2, dim_head=16, ff_mult=2, decoder_dim=128,
                     decoder_depth=2, decoder_heads=2, decoder_dim_head=16, fourier_features=16)},
    fixed=dict(readout="local", unfold=True, cell_input=True, patch_size=2, lp_placement="interleave"),
    validate=_hybrid_v2_checks, train_recipe=False,
    tokens=lambda c: c.image_size**2 + c.num_latents,  # the local map, then the global latents
    trains_any_size=True,  # the stem is convolutional, the scan as long as the input
    bytes_per_query=lambda c: 4 * (4 * 3 * c.decoder_dim + 32) + 4 * (
        2 * c.decoder_heads * c.num_latents + 8 * c.dim + 2 * c.fourier_features),
    describe=lambda c: (f"stem ×{c.stem_depth} + BiMamba ×{c.encoder_depth}",
                        f"local MLP {c.decoder_dim} × {c.decoder_depth} + gated SCENT")))
# MAMBA-GINR interleaves its LP tokens
register_architecture(Architecture(
    "mamba-ginr", "MAMBA-GINR: BiMamba encoder → LAINR multi-band decoder",
    "hinr.models.parts:mamba_ginr_parts", defaults=dict(lp_placement="interleave"),
    validate=_needs_wide_tokens,
    describe=lambda c: (f"BiMamba ×{c.encoder_depth}", _attention_or_local(c, "LAINR multi-band"))))
register_architecture(Architecture(
    "scent", "SCENT: cascaded Perceiver encoder → processor → SCENT decoder",
    "hinr.models.parts:scent_parts",
    describe=lambda c: (f"Perceiver ×{c.perceiver_blocks}",
                        _attention_or_local(c, f"SCENT {c.decoder_dim}, {c.decoder_depth} FF"))))
# liif: EDSR-baseline (64 features, 16 residual blocks) + LIIF's MLP (4 hidden layers of 256) in
# base, as LIIF's paper; smaller sizes for the CPU. `dim` is the conv width, `encoder_depth` the
# residual blocks, `decoder_dim`/`decoder_depth` the MLP's hidden width and hidden layers. Its
# receptive radius: the encoder's 3×3 convolutions, the read-out's 3×3 unfolding and corner
# latents, and the bicubic base's taps.
register_architecture(Architecture(
    "liif", "LIIF: EDSR-baseline encoder → LIIF's local MLP read-out (the arbitrary-scale anchor)",
    "hinr.models.parts:liif_parts",
    sizes={"base": dict(dim=64, encoder_depth=16, decoder_dim=256, decoder_depth=4),
           "small": dict(dim=64, encoder_depth=8, decoder_dim=256, decoder_depth=3),
           "tiny": dict(dim=32, encoder_depth=4, decoder_dim=128, decoder_depth=2)},
    fixed=dict(readout="local", unfold=True, cell_input=True, patch_size=1, processor_depth=0),
    validate=_liif_checks, train_recipe=False,
    derive=lambda f: {**f, "num_latents": f.get("image_size", INPUT_SIZE) ** 2},  # one per pixel
    receptive_radius=lambda c: 2 * c.encoder_depth + 2 + 2 + 2,
    describe=lambda c: (f"EDSR ×{c.encoder_depth}", f"local MLP {c.decoder_dim} × {c.decoder_depth}")))
ARCHITECTURES = tuple(REGISTRY)  # the built-in ones (REGISTRY also holds any registered later)


def preset(name: str = "base", *, arch: str = "hybrid", **overrides) -> ModelConfig:
    """The named preset for an architecture, with optional field overrides."""
    if name not in _SIZES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    if arch not in REGISTRY:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(REGISTRY)}")
    row = REGISTRY[arch]
    # an override naming one of the architecture's own fields goes into its options
    own = {f.name for f in dataclasses.fields(row.options)} if row.options is not None else set()
    options = {k: overrides.pop(k) for k in list(overrides) if k in own}
    layers = (row.sizes.get(name, _SIZES[name]), row.defaults, row.fixed, overrides)
    fields = {k: v for layer in layers for k, v in layer.items()}
    fields["options"] = {k: v for layer in layers for k, v in layer.get("options", {}).items()}
    fields["options"].update(options)
    if row.derive is not None:
        fields = row.derive(fields)
    return ModelConfig(arch=arch, **fields)
