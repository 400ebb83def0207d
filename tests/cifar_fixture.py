"""Write a tiny CIFAR-10 archive in exactly the official format, for tests that must stay offline.

``cifar-10-python.tar.gz`` → ``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch`` and
``batches.meta``; each batch a protocol-2 pickle of a dict with bytes keys, ``b"data"`` an N×3072
uint8 array of R, G, B planes (each 32×32 row-major) and ``b"labels"`` a list of ints.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def fake_cifar_images(name: str, n_per_batch: int) -> np.ndarray:
    """The known images of batch ``name``: uint8 (N, 3, 32, 32), distinct per channel, row, column."""
    b = BATCHES.index(name)
    n, c, y, x = np.meshgrid(
        np.arange(n_per_batch), np.arange(3), np.arange(32), np.arange(32), indexing="ij"
    )
    return ((b * 41 + n * 13 + c * 85 + y * 7 + x * 3) % 256).astype(np.uint8)


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_fake_cifar(directory: Path, *, n_per_batch: int = 4) -> tuple[Path, str]:
    """Write ``directory/cifar-10-python.tar.gz``; return (archive path, its md5)."""
    archive = Path(directory) / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        meta = {b"num_cases_per_batch": n_per_batch, b"label_names": [b"airplane"] * 10, b"num_vis": 3072}
        _add(tar, "batches.meta", _pickled(meta))
        for name in BATCHES:
            images = fake_cifar_images(name, n_per_batch)
            batch = {
                b"batch_label": name.encode(),
                b"labels": [i % 10 for i in range(n_per_batch)],
                b"data": images.reshape(n_per_batch, 3072),
                b"filenames": [f"{name}_{i}.png".encode() for i in range(n_per_batch)],
            }
            _add(tar, name, _pickled(batch))
    return archive, hashlib.md5(archive.read_bytes()).hexdigest()
