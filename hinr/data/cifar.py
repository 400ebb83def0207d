"""CIFAR-10: find it, check it, read it, serve it as a Dataset.

The official ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/`` with ``data_batch_1..5``,
``test_batch`` and ``batches.meta``. Each batch is a pickled dict whose ``b"data"`` is an N×3072
uint8 array (the R, G and B planes, each 32×32 row-major) and whose ``b"labels"`` lists the classes.

Trust model (STYLE habit 12, "never unpickle files from elsewhere"): an archive is unpickled only
after its md5 matches the published one, and even then through an unpickler that resolves nothing
but the handful of numpy names a batch needs. An already extracted ``cifar-10-batches-py/`` folder
has no checksum to check; it is trusted as the user's own files (the restricted unpickler still
applies).

Search order of :func:`find_cifar10`: the ``data_dir`` argument, ``$HINR_DATA_DIR``, then the user
cache ``$XDG_CACHE_HOME/hinr/datasets`` (default ``~/.cache/hinr/datasets``); if all miss, the
archive is downloaded to the cache (temp file + rename, so no half-written archive is ever seen).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hinr.atomic import WriteError, atomic_write
from hinr.errors import DatasetCorruptError, DatasetNotFoundError
from hinr.errors import OutputExistsError

logger = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER_NAME = "cifar-10-batches-py"
SPLIT_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
DATA_DIR_ENV = "HINR_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 15.0  # per socket operation; an offline machine fails fast


def cache_dir() -> Path:
    """The user cache folder for datasets: ``$XDG_CACHE_HOME/hinr/datasets`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hinr" / "datasets"


def file_md5(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex md5 of a file, read in chunks (the archive is 170 MB)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def verify_md5(path: str | Path, *, expected_md5: str) -> None:
    """Raise :class:`DatasetCorruptError` unless the file's md5 is ``expected_md5``."""
    actual = file_md5(path)
    if actual != expected_md5.lower():
        raise DatasetCorruptError(
            f"{path} has md5 {actual}, expected {expected_md5}: the file is damaged or not the "
            f"official CIFAR-10 archive; delete it and download {CIFAR10_URL} again"
        )


def _located_in(directory: Path) -> Path | None:
    """The archive or extracted folder inside ``directory`` (or ``directory`` itself), if any."""
    if directory.is_file() and directory.name.endswith(".tar.gz"):
        return directory
    if (directory / SPLIT_BATCHES["test"][0]).is_file():
        return directory
    if (directory / ARCHIVE_NAME).is_file():
        return directory / ARCHIVE_NAME
    if (directory / FOLDER_NAME / SPLIT_BATCHES["test"][0]).is_file():
        return directory / FOLDER_NAME
    return None


def _download(url: str, destination: Path, *, expected_md5: str, timeout: float) -> None:
    """Download ``url`` to ``destination`` through :func:`hinr.atomic.atomic_write` (temp file,
    md5 checked, fsync, then published); a network failure is a DatasetNotFoundError."""

    def fetch(tmp: str) -> None:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done, next_report = 0, 0.0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if total and done / total >= next_report:
                        logger.info("downloading %s: %.0f%%", url, 100 * done / total)
                        next_report += 0.1
        except OSError as exc:  # URLError, timeouts: the network, not the disk
            raise DatasetNotFoundError(f"the download of {url} failed ({exc})") from exc
        actual = file_md5(tmp)
        if actual != expected_md5.lower():
            raise DatasetCorruptError(
                f"the download of {url} has md5 {actual}, expected {expected_md5}: try again, or "
                f"download it by hand and put it at {destination}"
            )

    try:
        atomic_write(destination, fetch, what="the CIFAR-10 archive")
    except OutputExistsError:
        pass  # another process published the same verified archive meanwhile


def find_cifar10(
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    expected_md5: str = CIFAR10_MD5,
    url: str = CIFAR10_URL,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Locate CIFAR-10: the path of ``cifar-10-python.tar.gz`` or of ``cifar-10-batches-py/``.

    Looks in ``data_dir`` (which may also name the archive or the folder itself), then
    ``$HINR_DATA_DIR``, then :func:`cache_dir`. If none holds it and ``download`` is true, the
    archive is downloaded to the cache folder and its md5 checked. Raises
    :class:`DatasetNotFoundError` (one line saying where to put the file) when it cannot be found
    or fetched, and :class:`DatasetCorruptError` when a download arrives damaged.
    """
    candidates = [Path(data_dir).expanduser()] if data_dir is not None else []
    if os.environ.get(DATA_DIR_ENV):
        candidates.append(Path(os.environ[DATA_DIR_ENV]).expanduser())
    cache = cache_dir()
    candidates.append(cache)
    for directory in candidates:
        found = _located_in(directory)
        if found is not None:
            logger.debug("CIFAR-10 found at %s", found)
            return found

    target = cache / ARCHIVE_NAME
    where = (f"put {ARCHIVE_NAME} (from {url}) in {cache}, or point --data-dir or ${DATA_DIR_ENV} "
             "at the folder that holds it")
    looked = ", ".join(str(c) for c in candidates)
    if not download:
        raise DatasetNotFoundError(f"CIFAR-10 not found (looked in {looked}): {where}")
    logger.info("CIFAR-10 not found locally; downloading %s to %s", url, target)
    try:
        _download(url, target, expected_md5=expected_md5, timeout=timeout)
    except (DatasetNotFoundError, WriteError) as exc:
        reason = exc.__cause__ if isinstance(exc, DatasetNotFoundError) and exc.__cause__ else exc
        raise DatasetNotFoundError(
            f"CIFAR-10 not found (looked in {looked}) and the download failed ({reason}): {where}"
        ) from exc
    return target


def _numpy_reconstruct():
    """numpy's array-unpickling helper, whatever module this numpy version keeps it in."""
    return np.zeros(0).__reduce__()[0]


# The only globals a CIFAR batch pickle references (Python 2's cPickle wrote them with
# numpy.core; Python 3 protocol-2 pickles add _codecs.encode for bytes).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("_codecs").encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, bytes and numpy arrays, and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _unpickle_batch(raw: bytes, *, source: str) -> torch.Tensor:
    """Decode one pickled batch into uint8 images (N, 3, 32, 32)."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:
        raise DatasetCorruptError(f"{source} is not a CIFAR-10 batch ({exc}); re-download it") from exc
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetCorruptError(
            f"{source} has no N×3072 uint8 b'data' array; it is not a CIFAR-10 batch, re-download it"
        )
    labels = batch.get(b"labels")
    if labels is not None and len(labels) != len(data):
        raise DatasetCorruptError(f"{source} has {len(data)} images but {len(labels)} labels; re-download it")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())


def _read_archive_members(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Read the named batches from the tarball in one sequential pass (gzip cannot seek back)."""
    wanted = {f"{FOLDER_NAME}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetCorruptError(f"cannot read {archive} ({exc}); delete it and download it again") from exc
    return found


def load_cifar10(
    path: str | Path, *, split: str = "train", expected_md5: str | None = CIFAR10_MD5
) -> torch.Tensor:
    """Load one split of CIFAR-10 as uint8 images (N, 3, 32, 32), channels R, G, B.

    ``path`` is the archive, the extracted ``cifar-10-batches-py/`` folder, or a folder holding
    either (what :func:`find_cifar10` returns works). An archive's md5 is checked against
    ``expected_md5`` before anything is unpickled (``None`` skips the check); a folder is trusted.
    ``split`` is ``"train"`` (50,000 images) or ``"test"`` (10,000).
    """
    if split not in SPLIT_BATCHES:
        raise ValueError(f"split must be one of {sorted(SPLIT_BATCHES)}, got {split!r}")
    path = Path(path).expanduser()
    located = _located_in(path)
    if located is None:
        raise DatasetNotFoundError(
            f"no CIFAR-10 at {path}: expected {ARCHIVE_NAME} or a {FOLDER_NAME}/ folder there"
        )
    names = SPLIT_BATCHES[split]
    if located.is_file():
        if expected_md5 is not None:
            verify_md5(located, expected_md5=expected_md5)
        raw = _read_archive_members(located, names)
    else:
        raw = {name: (located / name).read_bytes() for name in names if (located / name).is_file()}
    missing = [name for name in names if name not in raw]
    if missing:
        raise DatasetCorruptError(f"{located} lacks {', '.join(missing)}; re-download {CIFAR10_URL}")
    images = [_unpickle_batch(raw[name], source=f"{located}:{name}") for name in names]
    return torch.cat(images)


class Cifar10Dataset(Dataset):
    """CIFAR-10 images as float tensors (3, 32, 32) in [0, 1]; labels are not returned.

    Holds the split as uint8 (150 MB for train) and converts one item at a time.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        split: str = "train",
        download: bool = True,
        expected_md5: str = CIFAR10_MD5,
    ) -> None:
        path = find_cifar10(data_dir, download=download, expected_md5=expected_md5)
        self.images = load_cifar10(path, split=split, expected_md5=expected_md5)
        self.split = split

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Image ``index`` as float32 (3, 32, 32) in [0, 1]."""
        return self.images[index].float() / 255.0
