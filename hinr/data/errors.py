"""The errors the data package raises, so the CLI can turn each into one actionable line.

Every message is a single line that names the path involved and says how to fix the problem
(huggingface_hub CLI style: known failures are explained, not dumped as tracebacks).
"""

from __future__ import annotations

from hinr.errors import HinrError


class HinrDataError(HinrError):
    """Base class of every data error hinr raises on purpose."""


class DatasetNotFoundError(HinrDataError, FileNotFoundError):
    """A dataset (or a file it lists) is not where it was looked for."""


class DatasetCorruptError(HinrDataError):
    """A dataset file exists but is damaged or not what it claims to be (bad md5, bad format)."""


class EmptyDatasetError(HinrDataError):
    """A dataset folder or split exists but holds no usable images."""
