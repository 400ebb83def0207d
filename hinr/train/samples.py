"""Training and validation samples in one shape for every data source.

Every sample is a dict: ``input`` (3, 32, 32) in [0, 1], ``coords`` (K, 2), ``target`` (K, 3) and
``cell`` (2,). Reconstruction data (CIFAR-10, 32×32 crops) is queried at its own pixel centres;
super-resolution data comes from :class:`hinr.data.SRCropDataset`. The batch of a step is a
function of (seed, step, rank) alone, so a resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import INPUT_SIZE
from ..coords import cell_size, pixel_centres
from ..data import (Cifar10Dataset, ImageFolderDataset, SRCropDataset, SRSampleConfig,
                    eval_crops, item_rng, load_rgb, make_eval_pair, select_images)
from ..errors import EmptyDatasetError
from .config import TrainConfig


class ReconstructionSamples(Dataset):
    """Queries a 32×32 image at K of its own pixel centres (all of them when K ≥ 1024)."""

    def __init__(self, images: Dataset, *, queries: int, seed: int = 0) -> None:
        self.images = images
        self.queries = queries
        self.seed = seed
        self.epoch = 0
        self.grid = pixel_centres(INPUT_SIZE, INPUT_SIZE)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.images, "set_epoch"):
            self.images.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.images[index]
        pixels = image.permute(1, 2, 0).reshape(-1, 3)
        if self.queries >= pixels.shape[0]:
            pick = torch.arange(pixels.shape[0])
        else:
            rng = item_rng(self.seed, self.epoch, index)
            pick = torch.from_numpy(rng.choice(pixels.shape[0], self.queries, replace=False))
        return {"input": image, "coords": self.grid[pick], "target": pixels[pick], "cell": cell_size(INPUT_SIZE, INPUT_SIZE)}


def split_files(files: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """Hold out every k-th file (k = 1/fraction) for validation; at least one when there are two."""
    if len(files) < 2 or fraction <= 0:
        return files, []
    k = max(2, round(1.0 / fraction))
    val = files[k - 1::k] or files[-1:]
    return [f for f in files if f not in val], val


def build_train_data(cfg: TrainConfig, *, on_status: Callable[[str], None] | None = None
                     ) -> tuple[Dataset, list[dict[str, torch.Tensor]]]:
    """The training dataset and a fixed validation list of full-grid samples; ``on_status`` hears
    what is being loaded before the (possibly slow) decoding starts."""
    say = on_status or (lambda message: None)
    if cfg.data == "cifar10":
        say("loading CIFAR-10")
        train = Cifar10Dataset(cfg.data_dir, split="train")
        test = Cifar10Dataset(cfg.data_dir, split="test")
        val = [_full_grid(test[i], test[i]) for i in range(min(cfg.val_images, len(test)))]
        return ReconstructionSamples(train, queries=cfg.queries, seed=cfg.seed), val
    root = Path(cfg.data).expanduser()
    files = select_images(root, split=cfg.split)
    train_files, val_files = split_files(files, cfg.val_fraction)
    if not train_files:
        raise EmptyDatasetError(f"no training images in {root}")
    say(f"loading {len(files)} photos from {root}")
    if cfg.hr_size is not None:
        sample_cfg = SRSampleConfig(input_size=cfg.input_size, hr_size=cfg.hr_size, queries=cfg.queries,
                                    degrade=cfg.degrade, rot90=cfg.rot90, rgb_permute=cfg.rgb_permute,
                                    random_downscale=_zoom_range(cfg.max_zoom))
        train = SRCropDataset.from_paths(train_files, config=sample_cfg, samples_per_epoch=10**6,
                                         seed=cfg.seed)
        val = []
        per_image = max(1, cfg.val_images // max(1, len(val_files)))
        scale = max(1, cfg.hr_size // cfg.input_size)  # the largest scale the crops train
        for path in val_files:
            image = load_rgb(path)
            for count in range(per_image, 0, -1):  # as many crops as the image holds at full size
                try:
                    crops = eval_crops(image, count, min_side=INPUT_SIZE * scale)
                    break
                except ValueError:
                    crops = [image]
            for crop in crops:
                low, high = make_eval_pair(crop, scale)
                val.append(_full_grid(low, high))
        return train, val[: cfg.val_images]
    train = ReconstructionSamples(
        ImageFolderDataset(train_files, crop=32, samples_per_epoch=10**6, hflip=True, seed=cfg.seed),
        queries=cfg.queries, seed=cfg.seed)
    val = []
    if val_files:
        held = ImageFolderDataset(val_files, crop=32, samples_per_epoch=cfg.val_images, seed=cfg.seed + 1)
        val = [_full_grid(held[i], held[i]) for i in range(len(held))]
    return train, val


def _zoom_range(max_zoom: float) -> tuple[float, float] | None:
    """SRSampleConfig.random_downscale for photos seen at zoom ≤ max_zoom: None (the sampler's own
    range, from the crop spanning the short side up to 1) at 1; below it, the same range cut at
    max_zoom (the sampler raises the low end to where the crop spans the short side)."""
    return None if max_zoom == 1.0 else (1e-6, max_zoom)


def _full_grid(low: torch.Tensor, high: torch.Tensor) -> dict[str, torch.Tensor]:
    h, w = high.shape[-2:]
    return {"input": low, "coords": pixel_centres(h, w), "target": high.permute(1, 2, 0).reshape(-1, 3),
            "cell": cell_size(h, w), "size": torch.tensor([h, w])}


def source_images(dataset: Dataset) -> int:
    """How many distinct source images a training set draws from (what an epoch means)."""
    inner = getattr(dataset, "images", None)
    inner = getattr(inner, "images", inner)  # ReconstructionSamples → its dataset → its images
    return len(inner) if inner is not None else len(dataset)


def batch_for_step(dataset: Dataset, *, seed: int, step: int, rank: int, batch_size: int) -> dict[str, torch.Tensor]:
    """The batch of one step on one rank: random items of the step's random stream."""
    rng = np.random.default_rng([seed, step, rank, 7])
    indices = rng.integers(0, len(dataset), size=batch_size)
    dataset.set_epoch(step)
    items = [dataset[int(i)] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}
