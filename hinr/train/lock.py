"""One training per run folder: an exclusive ``fcntl.flock`` on ``RUN/.lock``.

The lock belongs to the open file, so it dies with the process (kill -9 included) and a crashed
run never blocks the next one; the empty ``.lock`` file itself may stay and means nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import HinrError

LOCK_NAME = ".lock"


class RunFolderBusyError(HinrError):
    """Another process is training in (or resuming) the same run folder."""


class RunLock:
    """Hold ``folder/.lock`` exclusively until :meth:`release` (or the process ends)."""

    def __init__(self, folder: str | Path) -> None:
        import fcntl

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise RunFolderBusyError(f"{self.folder} is in use by another hinr train: wait for it to "
                                     "finish, or choose another --out") from None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock
            self._fd = None


def holds_only_lock(folder: Path) -> bool:
    """True when ``folder`` is missing or holds nothing but the lock file."""
    return not folder.exists() or all(p.name == LOCK_NAME for p in folder.iterdir())
