"""Super-resolution samples: LIIF-style random-scale training crops and fixed evaluation pairs.

Training (:class:`SRCropDataset`): pick a scale s, an HR crop of side S = round(input_size·s) px,
make the input the way a user's photo is made (PIL's antialiased bicubic reduction of the crop to
input_size), and ask for the HR colour at K query points. Before cropping, the photo is seen at a
random zoom ``r`` (``random_downscale``), so crops range from fine detail at the original resolution
to almost the whole photo; a crop at zoom r is the photo region of side S/r resized to S, which is
the same as downscaling the photo and cropping, at a fraction of the cost. The HR crop is never
upsampled: S is capped by the photo's short side.

Queries use hinr's pixel-centre (x, y) convention (:mod:`hinr.coords`). ``target_mode="pixels"``
(the default) takes K random HR pixel centres, whose targets are exact pixel values;
``"bilinear"`` takes K uniform points in [0, 1]² and samples the crop bilinearly (grid_sample,
border padding, align_corners=False), which blurs the target slightly.

Randomness: item ``i`` of epoch ``e`` draws everything from numpy's PCG64 seeded by
``SeedSequence([seed, e, i])`` (:func:`hinr.data.folder.item_rng`), so an item does not depend on
workers or on the order items are drawn, and a resumed run is bit-identical.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image
from torch.utils.data import Dataset

from hinr.coords import cell_size, index_centre, to_grid_sample
from hinr.data.degrade import degradation
from hinr.errors import EmptyDatasetError
from hinr.data.folder import image_to_tensor, item_rng, load_rgb, to_rgb

logger = logging.getLogger(__name__)

TARGET_MODES = ("pixels", "bilinear")
# PIL transposes applied for k quarter turns counter-clockwise.
_ROTATIONS = (None, Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270)


@dataclass
class SRSampleConfig:
    """How training samples are drawn; JSON-friendly, so it can be saved beside a run."""

    input_size: int = 32  # side of the low-resolution input the model sees
    hr_size: int = 128  # largest HR crop side N (caps the scale)
    queries: int = 1024  # K query points per sample
    min_scale: float = 1.0  # smallest HR side / input side
    max_scale: float | None = None  # largest; None = hr_size / input_size
    target_mode: str = "pixels"  # "pixels": exact HR pixel centres; "bilinear": continuous points
    random_downscale: tuple[float, float] | None = None  # photo zoom range (lo, hi) in (0, 1];
    # None = from 1 (original pixels) down to the zoom at which the crop spans the short side
    hflip: bool = True  # random horizontal flip
    rot90: bool = False  # random quarter turns (photos have an up; off by default)
    rgb_permute: bool = False  # random order of the R, G, B channels (CutBlur's "RGB permute")
    degrade: str = "none"  # input degradation preset (hinr/data/degrade.py): none, jpeg, mixed

    def __post_init__(self) -> None:
        if self.input_size < 1 or self.queries < 1:
            raise ValueError(
                f"input_size and queries must be positive, got {self.input_size}, {self.queries}"
            )
        if self.hr_size < self.input_size:
            raise ValueError(f"hr_size {self.hr_size} must be at least input_size {self.input_size}")
        degradation(self.degrade)  # raises on an unknown name
        if self.target_mode not in TARGET_MODES:
            raise ValueError(f"target_mode must be one of {TARGET_MODES}, got {self.target_mode!r}")
        lo, hi = self.scale_range
        if not 1.0 <= lo <= hi:
            raise ValueError(f"need 1 <= min_scale <= max_scale, got {lo}, {hi}")
        if round(self.input_size * hi) > self.hr_size:
            raise ValueError(
                f"max_scale {hi} needs HR crops of {round(self.input_size * hi)} px: raise hr_size "
                f"above {self.hr_size} or lower max_scale"
            )
        if self.random_downscale is not None:
            self.random_downscale = tuple(float(v) for v in self.random_downscale)
            low, high = self.random_downscale
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(
                    f"random_downscale must be (lo, hi) with 0 < lo <= hi <= 1, got {self.random_downscale}"
                )

    @property
    def scale_range(self) -> tuple[float, float]:
        """(min_scale, max_scale) with the default maximum resolved."""
        high = self.hr_size / self.input_size if self.max_scale is None else self.max_scale
        return self.min_scale, high


def _fit_min_side(image: Image.Image, side: int) -> Image.Image:
    """Upscale (bicubic) an image whose short side is below ``side`` so it is exactly ``side``."""
    width, height = image.size
    if min(width, height) >= side:
        return image
    logger.warning("image of %dx%d is smaller than %d px; upscaling it", width, height, side)
    factor = side / min(width, height)
    return image.resize((max(side, round(width * factor)), max(side, round(height * factor))), Image.BICUBIC)


class SRCropDataset(Dataset):
    """Random-scale super-resolution samples from a few photos held in memory.

    Item ``i`` uses photo ``i mod len(images)`` and returns a dict:
    ``input`` (3, input_size, input_size) float in [0, 1]; ``coords`` (K, 2) (x, y) in [0, 1];
    ``target`` (K, 3) float in [0, 1], the HR colour at ``coords``; ``cell`` (2,), the HR pixel
    size (1/S, 1/S) as (x, y). Call :meth:`set_epoch` at the start of every epoch.
    """

    def __init__(
        self,
        images: Sequence[Image.Image],
        *,
        config: SRSampleConfig | None = None,
        samples_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if not images:
            raise EmptyDatasetError("SRCropDataset got no images: pass at least one photo")
        self.config = config or SRSampleConfig()
        self.images = [_fit_min_side(to_rgb(image), self.config.input_size) for image in images]
        self.samples_per_epoch = samples_per_epoch or len(self.images)
        self.seed = seed
        self.epoch = 0

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path], **kwargs) -> "SRCropDataset":
        """Decode the files once (:func:`hinr.data.folder.load_rgb`) and build the dataset."""
        return cls([load_rgb(path) for path in paths], **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (items are a function of seed, epoch and index)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def hr_crop(self, index: int) -> Image.Image:
        """The (augmented) HR crop of item ``index``: an RGB image of side S."""
        return self._draw(index)[0]

    def _draw(self, index: int) -> tuple[Image.Image, np.random.Generator]:
        """Draw item ``index``'s HR crop; return it with the stream positioned for the queries."""
        cfg = self.config
        rng = item_rng(self.seed, self.epoch, index)
        image = self.images[index % len(self.images)]
        width, height = image.size
        short = min(width, height)

        scale = rng.uniform(*cfg.scale_range)
        side = min(round(cfg.input_size * scale), cfg.hr_size, short)
        zoom_lo, zoom_hi = cfg.random_downscale or (side / short, 1.0)
        zoom_lo = max(zoom_lo, side / short)  # the region may not exceed the photo
        zoom_hi = max(zoom_hi, zoom_lo)
        zoom = math.exp(rng.uniform(math.log(zoom_lo), math.log(zoom_hi)))
        region = min(max(round(side / zoom), side), short)
        left = int(rng.integers(0, width - region + 1))
        top = int(rng.integers(0, height - region + 1))
        box = (left, top, left + region, top + region)
        if region == side:
            crop = image.crop(box)
        else:
            crop = image.resize((side, side), Image.BICUBIC, box=box)

        if cfg.hflip and rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        if cfg.rot90:
            turn = _ROTATIONS[int(rng.integers(0, 4))]
            if turn is not None:
                crop = crop.transpose(turn)
        if cfg.rgb_permute:  # its own stream: runs without it draw exactly what they drew before
            order = np.random.default_rng((self.seed, self.epoch, index, 11)).permutation(3)
            bands = crop.split()
            crop = Image.merge("RGB", [bands[int(i)] for i in order])
        return crop, rng

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        crop, rng = self._draw(index)
        side = crop.size[0]
        size = cfg.input_size
        low = crop.resize((size, size), Image.BICUBIC)
        if cfg.degrade != "none":  # its own stream: clean runs draw exactly what they drew before
            low = degradation(cfg.degrade)(low, np.random.default_rng((self.seed, self.epoch, index, 7)))
        hr = np.asarray(crop, dtype=np.uint8)  # (S, S, 3)

        if cfg.target_mode == "pixels":
            flat = rng.choice(side * side, size=cfg.queries, replace=cfg.queries > side * side)
            rows, cols = np.divmod(flat, side)
            coords = np.stack([index_centre(cols, side), index_centre(rows, side)], axis=-1)
            target = torch.from_numpy(hr[rows, cols].astype(np.float32) / 255.0)
        else:
            coords = rng.random((cfg.queries, 2))
            grid = rearrange(to_grid_sample(torch.from_numpy(coords).float()), "k xy -> 1 1 k xy")
            image = rearrange(image_to_tensor(crop), "c h w -> 1 c h w")
            sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
            target = rearrange(sampled, "1 c 1 k -> k c")

        return {
            "input": image_to_tensor(low),
            "coords": torch.from_numpy(coords).float(),
            "target": target,
            "cell": cell_size(side, side),
        }


def centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square crop of an image."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def make_eval_pair(
    image: Image.Image, scale: int, *, input_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """An evaluation pair from the image's centre square, both made with PIL's antialiased bicubic.

    Returns ``input`` (3, input_size, input_size) and ``hr`` (3, input_size·scale, input_size·scale),
    float in [0, 1]. Pass a crop from :func:`eval_crops` to evaluate elsewhere in a photo.
    """
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    crop = centre_square(to_rgb(image))
    hr_side = input_size * int(scale)
    if crop.size[0] < hr_side:
        logger.warning(
            "crop of %d px is smaller than the %d px target: the HR image is upsampled", crop.size[0], hr_side
        )
    hr = crop.resize((hr_side, hr_side), Image.BICUBIC)
    low = crop.resize((input_size, input_size), Image.BICUBIC)
    return image_to_tensor(low), image_to_tensor(hr)


def _grid_positions(length: int, side: int, count: int) -> list[int]:
    """``count`` evenly spread offsets of a window of ``side`` along ``length`` (centred if one)."""
    if count == 1:
        return [(length - side) // 2]
    return [round(v) for v in np.linspace(0, length - side, count)]


def eval_crops(image: Image.Image, n: int, *, min_side: int = 32) -> list[Image.Image]:
    """``n`` deterministic square crops of an image, for evaluating on few photos.

    The first is the centre square (all of it for ``n=1``). Then come levels k = 2, 3, …: squares
    of side ⌊short/k⌋ on an evenly spread grid covering the photo, row by row; when a level has more
    crops than still needed, an evenly spaced subset of it is taken.
    Returns crops as PIL images in that order; the same image and ``n`` always give the same crops.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    width, height = image.size
    short = min(width, height)
    boxes = [((width - short) // 2, (height - short) // 2, short)]
    level = 2
    while len(boxes) < n:
        side = short // level
        if side < min_side:
            raise ValueError(
                f"cannot cut {n} crops of at least {min_side} px from a {width}x{height} image; ask for fewer"
            )
        xs = _grid_positions(width, side, math.ceil(width / side))
        ys = _grid_positions(height, side, math.ceil(height / side))
        level_boxes = [(x, y, side) for y in ys for x in xs]
        need = n - len(boxes)
        if need < len(level_boxes):
            picks = ((np.arange(need) + 0.5) * len(level_boxes) / need).astype(int)  # centred, even
            level_boxes = [level_boxes[i] for i in picks]
        boxes.extend(level_boxes)
        level += 1
    return [image.crop((x, y, x + side, y + side)) for x, y, side in boxes]
