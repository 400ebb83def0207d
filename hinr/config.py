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
import json
import math
from dataclasses import dataclass

ARCHITECTURES = ("hybrid", "hybrid-v2", "mamba-ginr", "scent", "liif")
READOUTS = ("attention", "local")
LP_PLACEMENTS = ("append", "interleave")
LP_INTERLEAVES = ("mamba-ginr", "round")


@dataclass
class ModelConfig:
    arch: str = "hybrid"  # one of ARCHITECTURES
    # --- input and tokens -------------------------------------------------------------------
    image_size: int = 32  # the encoder's input side; larger images are tiled by the CLI
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

    def __post_init__(self) -> None:
        self.lainr_bands = tuple(float(b) for b in self.lainr_bands)
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}")
        if self.arch == "liif" and self.readout != "local":
            raise ValueError("the liif architecture reads out locally: set readout='local'")
        if self.arch == "liif" and self.num_latents != self.image_size**2:
            raise ValueError("liif has one latent per input pixel: num_latents must be image_size²")
        if self.readout == "local" and self.image_size % self.latent_grid:
            raise ValueError("the local read-out needs image_size to be a multiple of the latent grid side")
        if self.base_skip and self.residual:
            raise ValueError("base_skip and residual both add the bicubic base: choose one")
        if self.lp_placement not in LP_PLACEMENTS:
            raise ValueError(f"unknown lp_placement {self.lp_placement!r}; choose {LP_PLACEMENTS}")
        if self.lp_interleave not in LP_INTERLEAVES:
            raise ValueError(f"unknown lp_interleave {self.lp_interleave!r}; choose {LP_INTERLEAVES}")
        if self.scan_order not in ("row", "alternate"):
            raise ValueError("scan_order must be 'row' or 'alternate'")
        if self.arch == "hybrid-v2" and (self.readout != "local" or self.residual):
            raise ValueError("hybrid-v2 reads out locally (readout='local') and has no residual")
        if self.bimamba_merge not in ("mean", "concat"):
            raise ValueError("bimamba_merge must be 'mean' or 'concat'")
        if self.image_size % self.patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        if math.isqrt(self.num_latents) ** 2 != self.num_latents:
            raise ValueError("num_latents must be a square number (latents sit on a 2D grid)")
        if self.arch in ("hybrid", "mamba-ginr") and self.dim <= 32:
            raise ValueError("dim must exceed 32: the patch tokens carry a fixed 32-d position code")
        if self.readout == "local":
            stride = self.image_size // math.isqrt(self.num_latents)
            if self.local_pixels and (self.local_pixels < stride or (self.local_pixels - stride) % 2
                                      or self.local_pixels > 12):
                raise ValueError(f"local_pixels with the local read-out must be ≥ {stride}, at most "
                                 f"12, and differ from {stride} (pixels per latent cell) by an even "
                                 "number: the window centres on the cell")
        elif self.local_pixels not in range(0, 13, 2):  # even: the taps centre on the query
            raise ValueError("local_pixels must be 0 (off) or an even number up to 12")
        for name in ("dim", "encoder_depth", "heads", "dim_head", "decoder_dim", "fourier_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")

    # ----------------------------------------------------------------------------------------
    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def latent_grid(self) -> int:
        """Side of the 2D grid the latents map onto (16 for 256 latents)."""
        return math.isqrt(self.num_latents)

    @property
    def num_tokens(self) -> int:
        """Tokens ``encode`` makes per image: the latents, and for hybrid-v2 its local feature map
        (one per input pixel) before its global latents."""
        return self.image_size**2 + self.num_latents if self.arch == "hybrid-v2" else self.num_latents

    @property
    def whole_image(self) -> bool:
        """True when an image of any size can be encoded at once: a fully convolutional encoder
        (one latent per input pixel) read out locally, so nothing depends on the input's size."""
        return self.arch == "liif"

    @property
    def receptive_radius(self) -> int:
        """For ``whole_image`` models: how many input pixels beyond its own cell an output pixel
        depends on (the encoder's 3×3 convolutions, the read-out's 3×3 unfolding and its
        corner latents, and the bicubic base's taps), so tiles overlapping by this much agree."""
        return 2 * self.encoder_depth + 2 + 2 + 2

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

# liif: EDSR-baseline (64 features, 16 residual blocks) + LIIF's MLP (4 hidden layers of 256) in
# base, as LIIF's paper; smaller sizes for the CPU. `dim` is the conv width, `encoder_depth` the
# residual blocks, `decoder_dim`/`decoder_depth` the MLP's hidden width and hidden layers.
_ARCH_SIZES: dict[str, dict[str, dict]] = {
    # hybrid-v2: `dim` the stem, token and latent width; `encoder_depth` BiMamba blocks;
    # `decoder_dim`/`decoder_depth` the local MLP (liif's); the global SCENT decoder is
    # `fourier_features` / `decoder_heads` × `decoder_dim_head` wide at `dim`
    "hybrid-v2": {
        "base": dict(dim=256, stem_depth=8, encoder_depth=6, num_latents=256, processor_depth=4,
                     heads=8, dim_head=64, decoder_dim=256, decoder_depth=4, decoder_heads=8,
                     decoder_dim_head=64, fourier_features=128),
        "small": dict(dim=64, stem_depth=8, encoder_depth=4, encoder_mlp_ratio=2.0, num_latents=64,
                      processor_depth=2, heads=4, dim_head=16, ff_mult=2, decoder_dim=128,
                      decoder_depth=3, decoder_heads=2, decoder_dim_head=16, fourier_features=32),
        "tiny": dict(dim=32, stem_depth=4, encoder_depth=2, encoder_mlp_ratio=2.0, num_latents=64,
                     processor_depth=1, heads=2, dim_head=16, ff_mult=2, decoder_dim=128,
                     decoder_depth=2, decoder_heads=2, decoder_dim_head=16, fourier_features=16),
    },
    "liif": {
        "base": dict(dim=64, encoder_depth=16, decoder_dim=256, decoder_depth=4),
        "small": dict(dim=64, encoder_depth=8, decoder_dim=256, decoder_depth=3),
        "tiny": dict(dim=32, encoder_depth=4, decoder_dim=128, decoder_depth=2),
    },
}
# an architecture's own defaults (overridable): MAMBA-GINR interleaves its LP tokens
_ARCH_DEFAULTS: dict[str, dict] = {"mamba-ginr": dict(lp_placement="interleave")}
# what an architecture is, whatever its size
_ARCH_FIXED: dict[str, dict] = {
    "hybrid-v2": dict(readout="local", unfold=True, cell_input=True, patch_size=2,
                      lp_placement="interleave"),
    "liif": dict(readout="local", unfold=True, cell_input=True, num_latents=32 * 32,
                 patch_size=1, processor_depth=0),
}


def preset(name: str = "base", *, arch: str = "hybrid", **overrides) -> ModelConfig:
    """The named preset for an architecture, with optional field overrides."""
    if name not in _SIZES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    sizes = _ARCH_SIZES.get(arch, {}).get(name, _SIZES[name])
    fixed = dict(_ARCH_FIXED.get(arch, {}))
    if "image_size" in overrides and "num_latents" in fixed:
        fixed["num_latents"] = overrides["image_size"] ** 2
    return ModelConfig(arch=arch, **{**sizes, **_ARCH_DEFAULTS.get(arch, {}), **fixed, **overrides})
