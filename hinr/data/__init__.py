"""Data for hinr: CIFAR-10, folders of photos, and super-resolution samples drawn from them."""

from hinr.data.cifar import CIFAR10_MD5, CIFAR10_URL, Cifar10Dataset, cache_dir, find_cifar10, load_cifar10
from hinr.errors import DatasetCorruptError, DatasetNotFoundError, EmptyDatasetError, HinrDataError
from hinr.data.folder import (
    ImageFolderDataset,
    image_to_tensor,
    item_rng,
    list_images,
    load_rgb,
    read_manifest_split,
    select_images,
    to_rgb,
)
from hinr.data.sr import SRCropDataset, SRSampleConfig, centre_square, eval_crops, make_eval_pair

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "Cifar10Dataset",
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "EmptyDatasetError",
    "HinrDataError",
    "ImageFolderDataset",
    "SRCropDataset",
    "SRSampleConfig",
    "cache_dir",
    "centre_square",
    "eval_crops",
    "find_cifar10",
    "image_to_tensor",
    "item_rng",
    "list_images",
    "load_cifar10",
    "load_rgb",
    "make_eval_pair",
    "read_manifest_split",
    "select_images",
    "to_rgb",
]
