"""Training settings: one JSON-friendly dataclass, saved in the run folder as train_config.json.

Every field is checked in ``__post_init__`` (types, ranges, finiteness), so a bad option fails as a
usage error before any data is loaded or any file is created.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import INPUT_SIZE, REGISTRY
from ..errors import HinrError, HinrUsageError, first_line


# The best measured recipe for the hybrid (the shipped `hybrid` weights': weights/README.md): what
# `hinr train` turns on unless --preset base (the design as written), --arch liif (LIIF as
# published; the default weights' recipe) or a flag says otherwise.
RECIPE_OVERRIDES: dict = {"residual": True, "locality": True, "cell_input": True, "local_pixels": 8,
                          "lp_placement": "interleave"}
# Reconstruction (CIFAR-10, or a folder without --hr-size: the 32×32 image is its own target) is the
# task both source designs were measured on: the image must pass through the latents. At scale 1
# the bicubic residual is the target itself (nothing to learn) and the pixel taps hand the decoder
# the answer, so the recipe keeps neither.
RECON_OVERRIDES: dict = {"residual": False, "locality": True, "cell_input": True, "local_pixels": 0,
                         "lp_placement": "interleave"}
RESIDUAL_AT_SCALE_1 = ("--residual at scale 1 (reconstruction: CIFAR-10, or --data without "
                       "--hr-size) makes the output equal its target before any training (bicubic "
                       "at ×1 is the input itself): drop --residual, or train super-resolution "
                       "with --hr-size")


# The sampling options of super-resolution training, and what each does there (for the error that
# refuses one without --hr-size).
SR_ONLY = {"degrade": "degrades the low-resolution input",
           "max_zoom": "zooms the photos the HR crops come from",
           "rot90": "turns the HR crops",
           "rgb_permute": "reorders the HR crops' colour channels",
           "input_size": "sets the side of the low-resolution input"}


class TrainConfigError(HinrError):
    """A train_config.json that cannot be read back (damaged, or from another hinr)."""


def option(default, help: str, *, shown: bool = False, show_default: str | None = None, **kw):
    """A TrainConfig field that is also a ``hinr train`` option, ``--name-with-dashes``: its help,
    whether ``hinr train --help`` lists it (the others are in docs/training.md) and the default
    it shows (else the field's own). The CLI is derived from these fields, so a new training
    option is one field here and its use."""
    metadata = {"help": help, "shown": shown, "show_default": show_default}
    return field(default=default, metadata=metadata, **kw)


@dataclass
class TrainConfig:
    data: str = option("cifar10", "'cifar10' or a folder of images (a MANIFEST.tsv split is "
                       "honoured).", shown=True)
    data_dir: str | None = option(None, "Where cifar-10-python.tar.gz or cifar-10-batches-py/ is "
                                  "(else $HINR_DATA_DIR, then ~/.cache/hinr/datasets).")
    split: str | None = "train"  # a folder's manifest split to train on (None: every image)
    arch: str = option("hybrid", " | ".join(REGISTRY) + ".", shown=True)
    preset: str = option("tiny", "base (the design) | small | tiny.", shown=True)
    model_overrides: dict = field(default_factory=dict)  # ModelConfig fields, e.g. {"residual": true}
    init_from: str | None = option(None, "Start from these weights.", shown=True)
    steps: int = option(1000, "Optimizer steps.", shown=True)
    epochs: float | None = option(None, "Instead of --steps: passes over the training set (> 0): "
                                  "steps = ⌈epochs · images / batch⌉.")
    batch_size: int = option(16, "Images per step.", shown=True)
    lr: float = option(5e-4, "Peak learning rate (AdamW, cosine).", shown=True)
    min_lr_ratio: float = 0.05  # cosine decays to lr · this
    warmup: int = option(100, "Linear warm-up steps (a warning if longer than --steps).")
    weight_decay: float = 0.01
    # AdamW's ε. A step divides each gradient by its running RMS + ε, so a gradient far under ε
    # barely moves its weight: the pixel loss gives the BiMamba scan's A_log, dt_proj and x_proj
    # gradients of 1e-12 – 1e-9, and under torch's 1e-8 they stayed at their initial values through
    # whole pilots (docs/results.md, the sixth round). The other weights' gradients are ≥ 4e-8.
    adam_eps: float = 1e-15
    clip: float = 1.0
    queries: int = option(1024, "Random query points per image per step.")
    hr_size: int | None = option(None, "Super-resolution: HR crops up to this side.", shown=True)
    degrade: str = option("none", "With --hr-size, degrade the 32×32 input as real images are: "
                          "none | jpeg (half the inputs JPEG q40–95) | mixed (jpeg + mild noise and "
                          "blur) | jpeg-all (mixed with every input JPEG, for JPEG-only weights) | "
                          "jpeg-any (jpeg-all with 4:2:2 and 4:4:4 chroma too).")
    recon_weight: float = option(0.0, "With --hr-size: weight of an added 32×32 reconstruction loss.")
    rot90: bool = option(False, "With --hr-size: quarter turns besides flips.", shown=True)
    rgb_permute: bool = option(False, "With --hr-size: put the training crops' R, G, B channels in "
                               "a random order (more colours from few photos; CutBlur's RGB "
                               "permute).")
    consistency: float = option(0.0, "> 0: each step also sees its batch turned or mirrored (one "
                                "of the 7 other symmetries of the square), both views fit the "
                                "target, and this weight pulls their outputs together (what "
                                "--ensemble 8 averages at inference, learnt instead). A step costs 2×.")
    max_zoom: float = option(1.0, "With --hr-size: the largest zoom at which the photos are seen "
                             "(1 = their own pixels; 0.5 = at most half size, where a JPEG photo's "
                             "own compression artefacts are gone).")
    input_size: int = option(INPUT_SIZE, "With --hr-size and a model that encodes any size (liif, "
                             "hybrid-v2, hybrid-v3; a multiple of their patch): the side of the training input "
                             "(LIIF trains on 48; the scales then reach --hr-size / this).")
    val_fraction: float = 0.1  # of the training images held out for validation (folders)
    val_every: int = option(200, "Validate every N steps.", shown=True)
    val_images: int = 64
    save_every: int = option(200, "Checkpoint every N steps.", shown=True)
    seed: int = option(0, "Seed of initialisation and data.", shown=True)
    device: str = option("auto", "auto | cpu | cuda | cuda:N.", shown=True)
    bf16: bool = option(False, "bfloat16 autocast (always on CUDA); the scan stays fp32.")
    ema: float = option(0.0, "EMA decay of the weights (0 = off), e.g. 0.999: the EMA is saved "
                        "as the model.")
    compile: bool = option(False, "torch.compile the decoder.")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "queries", "val_every", "val_images", "save_every"):
            _whole(name, getattr(self, name), low=1)
        _whole("warmup", self.warmup, low=0)
        _whole("seed", self.seed, low=0)
        if self.hr_size is not None:
            _whole("hr_size", self.hr_size, low=32)
        _whole("input_size", self.input_size, low=8)
        if self.hr_size is not None and self.input_size > self.hr_size:
            raise HinrUsageError(f"--input-size {self.input_size} is larger than --hr-size {self.hr_size}: "
                                 "the input is a reduction of the HR crop")
        from ..data.degrade import DEGRADATIONS

        if self.degrade not in DEGRADATIONS:
            raise HinrUsageError(f"--degrade must be one of {', '.join(DEGRADATIONS)}, not {self.degrade!r}")
        _number("consistency", self.consistency)
        if self.consistency < 0:
            raise HinrUsageError(f"--consistency must be 0 (off) or positive, got {self.consistency}")
        _number("max_zoom", self.max_zoom)
        if not 0.0 < self.max_zoom <= 1.0:
            raise HinrUsageError(f"--max-zoom must be in (0, 1], got {self.max_zoom}")
        for name in ("rot90", "rgb_permute"):
            if not isinstance(getattr(self, name), bool):
                raise HinrUsageError(f"--{_flag(name)} must be true or false, got {getattr(self, name)!r}")
        if self.hr_size is None:  # reconstruction: no low-resolution input, no HR crops
            for name, what in SR_ONLY.items():
                if getattr(self, name) != TrainConfig.__dataclass_fields__[name].default:
                    raise HinrUsageError(f"--{_flag(name)} needs super-resolution training "
                                         f"(--hr-size): it {what}, and reconstruction has none")
        if self.epochs is not None:
            _number("epochs", self.epochs)
            if self.epochs <= 0:
                raise HinrUsageError(f"--epochs must be positive, got {self.epochs}")
        for name in ("lr", "clip", "adam_eps"):
            _number(name, getattr(self, name))
            if getattr(self, name) <= 0:
                raise HinrUsageError(f"--{name} must be positive, got {getattr(self, name)}")
        for name in ("weight_decay", "recon_weight"):
            _number(name, getattr(self, name))
            if getattr(self, name) < 0:
                raise HinrUsageError(f"--{_flag(name)} must be 0 or more, got {getattr(self, name)}")
        _number("min_lr_ratio", self.min_lr_ratio)
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise HinrUsageError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        _number("val_fraction", self.val_fraction)
        if not 0.0 <= self.val_fraction < 1.0:
            raise HinrUsageError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _number("ema", self.ema)
        if not 0.0 <= self.ema < 1.0:
            raise HinrUsageError(f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        if not isinstance(self.data, str) or not self.data:
            raise HinrUsageError("--data must be 'cifar10' or a folder of images")
        if not isinstance(self.model_overrides, dict):
            raise HinrUsageError("model_overrides must be a mapping of ModelConfig fields")
        from ..device import check_device_name

        check_device_name(self.device)  # the one rule; whether this machine has it, the trainer checks
        if self.init_from is None:  # the model options must make a model before any data loads
            from ..config import preset

            try:
                config = preset(self.preset, arch=self.arch, **self.model_overrides)
            except (TypeError, ValueError) as err:
                raise HinrUsageError(str(err)) from err
            check_input_size(self.input_size, config)
        if self.hr_size is None and self.model_overrides.get("residual"):
            raise HinrUsageError(RESIDUAL_AT_SCALE_1)
        if self.hr_size is not None and self.data == "cifar10":
            raise HinrUsageError("--hr-size needs high-resolution photos: CIFAR-10 has none; pass --data FOLDER")

    def save(self, path: Path) -> None:
        from ..atomic import atomic_write

        text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text), overwrite=True,
                     what="training config")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        """Read train_config.json; TrainConfigError naming the file when it is damaged."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise TrainConfigError(f"{path} cannot be read ({first_line(err)}): restore it, or start "
                                   "a new run") from err
        if not isinstance(data, dict):
            raise TrainConfigError(f"{path} is not a JSON object: restore it, or start a new run")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(f"{path} has unknown fields {unknown} (made by a newer hinr?): "
                                   "upgrade hinr, or start a new run")
        try:
            return cls(**data)
        except (HinrUsageError, TypeError, ValueError) as err:
            raise TrainConfigError(f"{path} holds invalid settings ({first_line(err)}): restore it, "
                                   "or start a new run") from err


def _flag(name: str) -> str:
    return name.replace("_", "-")


def check_input_size(input_size: int, config) -> None:
    """HinrUsageError unless a model of ``config`` (ModelConfig) can train on input_size² inputs:
    its own side, or any side for a model whose encoder reads any size (``any_input_size``)."""
    if input_size != config.image_size and not config.any_input_size:
        archs = " or ".join(name for name, a in REGISTRY.items() if a.any_input_size)
        raise HinrUsageError(f"--input-size {input_size} needs a model that encodes images of any size "
                             f"(--arch {archs}): {config.arch} reads "
                             f"{config.image_size}×{config.image_size} inputs only")
    if input_size % config.patch_size:
        raise HinrUsageError(f"--input-size {input_size} is not a multiple of {config.arch}'s "
                             f"{config.patch_size}×{config.patch_size} patches: use "
                             f"{input_size + config.patch_size - input_size % config.patch_size}")


def _whole(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HinrUsageError(f"--{_flag(name)} must be a whole number, got {value!r}")
    if value < low:
        raise HinrUsageError(f"--{_flag(name)} must be at least {low}, got {value}")


def _number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HinrUsageError(f"--{_flag(name)} must be a finite number, got {value!r}")


