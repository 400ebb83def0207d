"""Every error hinr raises on purpose, all under one base class (``HinrError``), so the CLI can tell
a user's problem (one actionable line, exit 1 or 2) from a bug in hinr (a "please report" line
and, with HINR_DEBUG=1, the traceback). Its kinds: usage, an existing output, a checkpoint, not
enough memory, and the data errors (a dataset or an image file).

Library code raises a subclass of ``HinrError`` whenever the user can fix the cause (a bad file,
a missing dataset, an option out of range); anything else that escapes is a bug.
"""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """An error's message cut to its first line (its type's name when it has none): the one line
    the CLI shows."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class HinrError(Exception):
    """A failure the user can fix; the message is one line that says how. Exit code 1."""

    exit_code = 1


class HinrUsageError(HinrError, ValueError):
    """Bad arguments or options (caught before any work is done). Exit code 2."""

    exit_code = 2


class OutputExistsError(HinrError, FileExistsError):
    """The output path exists and overwriting was not asked for."""


class CheckpointError(HinrError):
    """A weights file that cannot be used; the message says why and what to do."""


class NotEnoughMemoryError(HinrError):
    """A job that cannot fit in this machine's (or this process's) memory, refused before it
    starts; the message says what to make smaller."""


# --- data: datasets and image files --------------------------------------------------------------
class HinrDataError(HinrError):
    """Base class of every data error hinr raises on purpose (a dataset or an image file)."""


class DatasetNotFoundError(HinrDataError, FileNotFoundError):
    """A dataset (or a file it lists) is not where it was looked for."""


class DatasetCorruptError(HinrDataError):
    """A dataset file exists but is damaged or not what it claims to be (bad md5, bad format)."""


class EmptyDatasetError(HinrDataError):
    """A dataset folder or split exists but holds no usable images."""
