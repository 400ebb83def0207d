"""The one way hinr writes a file: into a temporary file beside the target, flushed to disk, then
published in one step — so a failure or a signal never leaves half a file under the target's name.

``atomic_write(path, write, overwrite=False)`` refuses to replace an existing file unless asked:
the final step is ``os.link`` (which fails if the name exists), so a file that appears between an
earlier check and the publish is never clobbered either. Files get the mode ``open()`` would give
them (0666 less the umask), not ``mkstemp``'s private 0600.

Temporary files still open are listed in ``PENDING``; ``remove_pending()`` deletes them (the CLI
calls it from its SIGTERM/SIGHUP handler). A writer killed outright (``kill -9``) cannot clean up,
so temporary names carry the writer's process id (``.NAME.hinr<pid>-XXXX.tmp``), and each write
first removes the files of that pattern in its folder whose writer is no longer running — never
any other file.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from .errors import HinrError, OutputExistsError

PENDING: set[str] = set()


class WriteError(HinrError):
    """The output could not be written (no space, no permission, a folder in the way)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_pending() -> None:
    """Delete every temporary file that a write in progress has not published yet."""
    for tmp in list(PENDING):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        PENDING.discard(tmp)


_TEMP_NAME = re.compile(r"^\..+\.hinr(\d+)-[A-Za-z0-9_]+\.tmp$")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or not a pid at all): leave its file alone
    return True


def sweep_stale(folder: str | Path) -> list[Path]:
    """Remove hinr's own temporary files in ``folder`` whose writing process has gone; returns
    what was removed. Files of any other name are never touched."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _running(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def atomic_write(path: str | Path, write: Callable[[str], None], *, overwrite: bool = False,
                 what: str = "output") -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path``, fsync it, then publish it as ``path``.

    overwrite=False: fail with OutputExistsError if ``path`` exists, even if it appeared while the
    file was being written. Returns ``path``. Any failure removes the temporary file.
    """
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"cannot write {what} {path}: it is a folder; give a file name")
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.hinr{os.getpid()}-", suffix=".tmp",
                                   dir=path.parent)
    except OSError as err:
        raise WriteError(f"cannot write {what} {path} ({err.strerror or err}): choose another "
                         "output path") from err
    PENDING.add(tmp)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, HinrError):
            raise WriteError(f"cannot write {what} {path} ({err.strerror or err}): choose another "
                             "output path") from err
        if "No space left on device" in str(err) or "os error 28" in str(err):  # safetensors' own
            raise WriteError(f"cannot write {what} {path} (no space left on device): free some "
                             "space, or choose another output path") from err
        raise
    finally:
        PENDING.discard(tmp)
    return path


def _publish_new(tmp: str, path: Path) -> None:
    """Give ``tmp`` the name ``path`` only if no file has it, even one that appeared just now."""
    exists = OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    try:
        os.link(tmp, path)  # fails if the name exists now: never clobber
    except FileExistsError:
        raise exists from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
            raise
        # no hard links here (some network and FUSE file systems): reserve the name with an
        # exclusive create, then rename over our own empty reservation
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise exists from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
