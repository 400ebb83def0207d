"""Architecture configuration: one JSON-friendly dataclass, the registry of architectures and their
named presets.

The config describes the network only (no training settings); it is the one thing saved beside
the weights, so a checkpoint rebuilds its own model. ``ModelConfig`` holds the fields several
architectures share; an architecture's own fields live in its module, as its options dataclass
(``ModelConfig.options``), beside its registry row and the code that builds it. The built-in
architectures, one module each under ``hinr/models/`` (``BUILT_IN``):

- ``hybrid``     — MAMBA-GINR BiMamba encoder → SCENT processor → SCENT decoder (the design as written).
- ``hybrid-v3``  — conv stem → BiMamba line scans with LP tokens → windowed SCENT processor → local
  SCENT decoder over the latents around each query (hinr's design, every part on the path).
- ``hybrid-v2``  — conv stem → BiMamba + LP tokens → processor → LIIF read-out + gated SCENT decoder.
- ``mamba-ginr`` — the BiMamba encoder → LAINR-style multi-band decoder, no processor.
- ``scent``      — cascaded Perceiver encoder → SCENT processor → SCENT decoder.
- ``liif``       — EDSR-baseline convolutional encoder → LIIF's local MLP read-out (the
  arbitrary-scale SR baseline; one latent per input pixel).

``readout = "local"`` swaps any attention decoder for LIIF's local read-out on the latent grid
(hinr/models/local_decoder.py). ``base`` is the design exactly as written; ``small`` and ``tiny``
are sizes that train on a CPU. The options past the design (``residual``, ``locality``,
``cell_input``, ``local_pixels``) are off in ``base`` (docs/design.md).
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
DEFAULT_STRIDE = 24  # input px between the starts of a tiled model's tiles (they overlap by 8 px)
READOUTS = ("attention", "local")
LP_PLACEMENTS = ("append", "interleave")
LP_INTERLEAVES = ("mamba-ginr", "round")


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
    d_state: int = 16  # mamba_ssm defaults
    d_conv: int = 4
    expand: int = 2
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
        return (self.decoder_self_attn == 0 or self.readout == "local"
                or self.architecture.independent_queries)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """A saved config's fields as this version names them: configs saved before
        ``lp_interleave`` get the rule they were built with ("round"), and those saved before
        ``options`` (every field flat, each architecture's among them) get the fields their
        architecture owns moved into ``options`` and the other architectures' dropped."""
        data = {"lp_interleave": "round", **data}
        known = {f.name for f in dataclasses.fields(cls)}
        flat = set(data) - known
        if not flat or data.get("arch", cls.arch) not in REGISTRY:
            return data
        own = REGISTRY[data.get("arch", cls.arch)].option_names
        others = {name for arch in REGISTRY for name in REGISTRY[arch].option_names}
        unknown = sorted(flat - others)
        if unknown:
            raise ValueError(f"config has unknown fields {unknown}: made by a newer hinr? Upgrade hinr.")
        options = {k: data[k] for k in flat if k in own}
        rest = {k: v for k, v in data.items() if k in known}
        return {**rest, "options": {**options, **rest.get("options", {})}}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return cls(**cls.upgrade(data))

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


# Sizes ------------------------------------------------------------------------------------------
# base: the design as written. small / tiny: CPU-trainable. An architecture's row may replace a
# size with its own (``Architecture.sizes``); these are the shared fields of the others.
SHARED_SIZES: dict[str, dict] = {
    "base": {},
    "small": dict(
        dim=128, encoder_depth=2, processor_depth=2, heads=4, dim_head=32,
        decoder_dim=256, decoder_depth=2, decoder_heads=4, decoder_dim_head=32,
        fourier_features=128,
    ),
    "tiny": dict(
        dim=64, encoder_depth=1, encoder_mlp_ratio=2.0, processor_depth=1, heads=4, dim_head=16,
        ff_mult=2, decoder_dim=128, decoder_depth=1, decoder_heads=4, decoder_dim_head=16,
        decoder_ff_mult=2, fourier_features=64,
    ),
}
PRESETS = tuple(SHARED_SIZES)

# Architectures -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """Everything hinr knows of one architecture, in one row (``register_architecture``).

    ``parts`` names, as "module:function" (imported only when a model is built, so this module
    stays free of torch) or as the function itself, what builds its modules: config →
    ``hinr.models.parts.Parts``. Fields of ``ModelConfig`` come, last wins, from the shared size
    (``sizes`` replaces it per preset), ``defaults``, ``fixed`` (what the architecture is, whatever
    its size) and the caller's overrides. The optional hooks: ``validate`` (refuse configs it
    cannot build, ValueError), ``receptive_radius``
    (the input pixels an output pixel depends on, for a model that encodes whole images),
    ``trains_any_size`` (its encoder also reads inputs of other even sides, so it can train on
    them, while upscaling still tiles at ``image_size``),
    ``bytes_per_query`` (its decoder's working set, for the memory check; None: the shared
    estimate), ``describe``
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
    # its decoder decodes each query alone whatever ``decoder_self_attn`` says (it has none)
    independent_queries: bool = False

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
    def option_names(self) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(self.options)) if self.options else frozenset()

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
        self._order = list(lazy)  # the built-in ones first, in this order, then any added later

    def add(self, architecture: Architecture) -> None:
        self._rows[architecture.name] = architecture
        self._lazy.pop(architecture.name, None)

    def __getitem__(self, name: str) -> Architecture:
        if name not in self._rows and name in self._lazy:
            importlib.import_module(self._lazy[name])  # its module registers it
        return self._rows[name]

    def __iter__(self) -> Iterator[str]:  # a snapshot: looking a lazy row up while iterating adds it
        return iter([*self._order, *(name for name in self._rows if name not in self._order)])

    def __len__(self) -> int:
        return len(set(self._rows) | set(self._order))

    def __contains__(self, name: object) -> bool:
        return name in self._rows or name in self._order

    def pop(self, name: str) -> Architecture:
        """Remove a registered architecture (tests register and remove their own)."""
        return self._rows.pop(name)


# the built-in architectures: name → the module holding (and registering) it, in `hinr models` order
BUILT_IN = {"hybrid": "hinr.models.hybrid", "hybrid-v3": "hinr.models.hybrid_v3",
            "hybrid-v2": "hinr.models.hybrid_v2", "mamba-ginr": "hinr.models.mamba_ginr",
            "scent": "hinr.models.scent", "liif": "hinr.models.liif"}
REGISTRY = _Registry(BUILT_IN)


def register_architecture(architecture: Architecture) -> Architecture:
    """Add an architecture (a new one is its own file plus this one call)."""
    REGISTRY.add(architecture)
    return architecture


ARCHITECTURES = tuple(BUILT_IN)  # the built-in ones (REGISTRY also holds any registered later)


def preset(name: str = "base", *, arch: str = "hybrid", **overrides) -> ModelConfig:
    """The named preset for an architecture, with optional field overrides."""
    if name not in SHARED_SIZES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    if arch not in REGISTRY:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(REGISTRY)}")
    row = REGISTRY[arch]
    # an override naming one of the architecture's own fields goes into its options
    options = {k: overrides.pop(k) for k in list(overrides) if k in row.option_names}
    layers = (row.sizes.get(name, SHARED_SIZES[name]), row.defaults, row.fixed, overrides)
    fields = {k: v for layer in layers for k, v in layer.items()}
    fields["options"] = {k: v for layer in layers for k, v in layer.get("options", {}).items()}
    fields["options"].update(options)
    if row.derive is not None:
        fields = row.derive(fields)
    return ModelConfig(arch=arch, **fields)
