"""Training settings: one JSON-friendly dataclass, saved in the run folder as train_config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    data: str = "cifar10"  # "cifar10" or a folder of images
    data_dir: str | None = None  # where CIFAR-10 lives (else $HINR_DATA_DIR, then the cache)
    split: str | None = "train"  # a folder's manifest split to train on (None: every image)
    arch: str = "hybrid"
    preset: str = "tiny"
    model_overrides: dict = field(default_factory=dict)  # ModelConfig fields, e.g. {"residual": true}
    init_from: str | None = None  # start from these weights (a run folder or .safetensors)
    steps: int = 1000
    epochs: float | None = None  # set: steps = ⌈epochs · training images / (batch · processes)⌉
    batch_size: int = 16
    lr: float = 5e-4
    min_lr_ratio: float = 0.05  # cosine decays to lr · this
    warmup: int = 100
    weight_decay: float = 0.01
    clip: float = 1.0
    queries: int = 1024  # query points per image per step
    hr_size: int | None = None  # set: super-resolution training with HR crops up to this side
    degrade: str = "none"  # with hr_size: input degradations (none, jpeg, mixed; hinr/data/degrade.py)
    recon_weight: float = 0.0  # with hr_size: weight of an added 32×32 reconstruction loss
    val_fraction: float = 0.1  # of the training images held out for validation (folders)
    val_every: int = 200
    val_images: int = 64
    save_every: int = 200
    seed: int = 0
    device: str = "auto"
    bf16: bool = False  # autocast to bfloat16 (the scan stays in fp32)
    ema: float = 0.0  # > 0: keep an EMA of the weights with this decay and save it as the model
    compile: bool = False  # torch.compile the decoder

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.queries < 1:
            raise ValueError("steps, batch_size and queries must be positive")
        if self.lr <= 0:
            raise ValueError("lr must be positive")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError("ema must be in [0, 1)")
        if self.hr_size is not None and self.data == "cifar10":
            raise ValueError("--hr-size needs high-resolution photos: CIFAR-10 has none; pass --data FOLDER")
        if self.hr_size is not None and self.hr_size < 32:
            raise ValueError("--hr-size must be at least 32")

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls(**json.loads(Path(path).read_text()))
