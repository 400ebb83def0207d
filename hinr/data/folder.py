"""Folders of photos: list them, pick a split, decode any image to 8-bit RGB, serve random crops.

A folder may carry a ``MANIFEST.tsv`` (tab-separated, a header row with at least the columns
``file`` and ``split``; ``file`` is relative to the folder). With a manifest, a split is exactly the
files it lists; a folder without one (``--data PATH`` pointing at the user's own photos) is used
whole, whatever split is asked for.

Colour policy of :func:`load_rgb`: the EXIF orientation is applied; alpha (RGBA, LA, PA, palette
transparency) is composited over black, i.e. colour × alpha, so fully transparent pixels carry no
stray colour; greyscale is replicated to three channels; 16- and 32-bit integer greyscale ("I;16",
"I") is treated as 16-bit and rescaled to 8 bits (PIL's own conversion would clip it at 255).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from hinr.errors import DatasetCorruptError, DatasetNotFoundError, EmptyDatasetError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
MANIFEST_NAME = "MANIFEST.tsv"


def list_images(root: str | Path) -> list[Path]:
    """All images under ``root`` (recursive), by extension (case-insensitive), sorted by path."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder {root} does not exist: pass a folder of photos")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not paths:
        kinds = "/".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
        raise EmptyDatasetError(f"no images ({kinds}) under {root}: add some or pass another folder")
    return paths


def read_manifest_split(root: str | Path, split: str) -> list[Path]:
    """The files of ``split`` listed in ``root/MANIFEST.tsv``, as paths under ``root``, in file order."""
    root = Path(root).expanduser()
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise DatasetNotFoundError(f"no {MANIFEST_NAME} in {root}: add one, or use the whole folder")
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or not {"file", "split"} <= set(rows[0]):
        raise DatasetCorruptError(
            f"{manifest} needs a tab-separated header with columns 'file' and 'split' and at least one row"
        )
    splits = sorted({row["split"] for row in rows})
    paths = [root / row["file"] for row in rows if row["split"] == split]
    if not paths:
        raise EmptyDatasetError(f"{manifest} lists no files in split {split!r}; its splits are {splits}")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{manifest} lists {missing[0]} (and {len(missing) - 1} more) that do not exist: "
            "restore them or fix the manifest"
        )
    return paths


def select_images(root: str | Path, *, split: str | None = None) -> list[Path]:
    """The images of ``split`` per the folder's manifest, or every image if it has none.

    ``split=None`` means every image the folder holds, manifest or not.
    """
    root = Path(root).expanduser()
    if split is not None and (root / MANIFEST_NAME).is_file():
        return read_manifest_split(root, split)
    if split is not None:
        logger.warning("%s has no %s; using all its images for split %r", root, MANIFEST_NAME, split)
    return list_images(root)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB under the module's colour policy (the image itself if already RGB)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.float64)
        grey = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        rgba = np.asarray(image).astype(np.uint16)
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255  # colour × alpha, rounded
        return Image.fromarray(rgb.astype(np.uint8))
    return image.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file into an 8-bit RGB PIL image held in memory (file closed)."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
            return to_rgb(image).copy()
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(f"image {path} does not exist") from exc
    except Image.DecompressionBombError as exc:  # Pillow refuses it before decoding
        raise DatasetCorruptError(f"{path} is too large to decode safely ({exc}): reduce it, or "
                                  "remove it from the folder") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetCorruptError(f"cannot decode {path} ({exc}): re-save it as PNG or JPEG") from exc


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as float32 (3, H, W) in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one dataset item: numpy PCG64 seeded by SeedSequence([seed, epoch, index]).

    Depends on nothing else (not the worker, not the order items are drawn in), so a resumed run
    draws bit-identical items.
    """
    if min(seed, epoch, index) < 0:
        raise ValueError(f"seed, epoch and index must be non-negative, got {seed}, {epoch}, {index}")
    return np.random.default_rng([seed, epoch, index])


class ImageFolderDataset(Dataset):
    """Random square crops of a few images, float (3, crop, crop) in [0, 1].

    Images are decoded once and held as uint8; one smaller than ``crop`` on either side is first
    resized (bicubic) so its short side is ``crop``. Item ``i`` crops image ``i mod len(paths)`` at a
    position drawn from :func:`item_rng` (seed, epoch, i); call :meth:`set_epoch` each epoch.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        crop: int = 32,
        samples_per_epoch: int | None = None,
        hflip: bool = False,
        seed: int = 0,
    ) -> None:
        if crop < 1:
            raise ValueError(f"crop must be positive, got {crop}")
        if not paths:
            raise EmptyDatasetError("ImageFolderDataset got no image paths: pass at least one image")
        self.crop = crop
        self.hflip = hflip
        self.seed = seed
        self.epoch = 0
        self.samples_per_epoch = samples_per_epoch or len(paths)
        self.images = [self._fit(load_rgb(p)) for p in paths]

    @classmethod
    def from_folder(cls, root: str | Path, *, split: str | None = None, **kwargs) -> "ImageFolderDataset":
        """Build from a folder, honouring its manifest split (see :func:`select_images`)."""
        return cls(select_images(root, split=split), **kwargs)

    def _fit(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        if min(width, height) >= self.crop:
            return image
        factor = self.crop / min(width, height)
        size = (max(self.crop, round(width * factor)), max(self.crop, round(height * factor)))
        return image.resize(size, Image.BICUBIC)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (items are a function of seed, epoch and index)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> torch.Tensor:
        """Crop ``index`` as float32 (3, crop, crop) in [0, 1]."""
        rng = item_rng(self.seed, self.epoch, index)
        image = self.images[index % len(self.images)]
        width, height = image.size
        left = int(rng.integers(0, width - self.crop + 1))
        top = int(rng.integers(0, height - self.crop + 1))
        patch = image.crop((left, top, left + self.crop, top + self.crop))
        if self.hflip and rng.random() < 0.5:
            patch = patch.transpose(Image.FLIP_LEFT_RIGHT)
        return image_to_tensor(patch)
