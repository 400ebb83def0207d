"""How the CLI reports failure: one line on stderr and an exit code, a traceback only with
HINR_DEBUG=1.

- ``hinr.errors.HinrError`` (and its CLI subclasses below): the user can fix it; one line
  "hinr: error: …", exit 1 (2 for usage errors, ``HinrUsageError``).
- ``Interrupted``: Ctrl-C, SIGTERM or SIGHUP; one line, exit 128 + the signal number (130 for Ctrl-C).
- The allocator giving up: one "out of memory" line saying what to make smaller, exit 1.
- Anything else is a bug in hinr: one "internal error … please report it" line, exit 1.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

from ..errors import HinrError, HinrUsageError, first_line

ISSUES = "the hinr issue tracker"


class UsageError(HinrUsageError):
    """Bad arguments: exit code 2."""


class RuntimeFailure(HinrError):
    """A failure at run time that the user can fix (bad file, missing data): exit code 1."""


class Interrupted(BaseException):
    """A signal asked hinr to stop (a BaseException, so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        if self.signum == signal.SIGINT:
            return "interrupted"
        return f"stopped by {signal.Signals(self.signum).name}"


WRITE_ERRNOS = {errno.ENOSPC: "free some space", errno.EROFS: "choose a writable place",
                errno.EACCES: "choose a folder you may write", errno.EPERM: "choose a folder you may write",
                errno.EDQUOT: "free some space (quota)"}


def _write_failure(err: BaseException) -> str | None:
    """One line for a file or folder that could not be made (disk full, read-only file system,
    no permission) outside ``hinr.atomic`` (which words its own): the user's environment, not a
    bug."""
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        where = f" {err.filename}" if err.filename else ""
        return f"cannot write{where} ({err.strerror}): {WRITE_ERRNOS[err.errno]}, or choose another output"
    return None


def _out_of_memory(err: BaseException) -> bool:
    """The allocator gave up (MemoryError, torch's CPU or CUDA out-of-memory RuntimeError): the
    job was too large for this machine, not a bug."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def debug_enabled() -> bool:
    return os.environ.get("HINR_DEBUG", "") not in ("", "0")




def report(err: BaseException) -> int:
    """Print the one line for ``err`` on stderr and return the exit code."""
    if debug_enabled() and not isinstance(err, Interrupted):
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, Interrupted):
        from .console import line_open

        # a signal can cut a progress bar short of its newline: start a line of our own
        print(("\n" if line_open() else "") + f"hinr: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, HinrError):
        print(f"hinr: error: {first_line(err)}", file=sys.stderr)
        return err.exit_code
    written = _write_failure(err)
    if written is not None:
        print(f"hinr: error: {written}", file=sys.stderr)
        return 1
    if _out_of_memory(err):
        print("hinr: error: out of memory: choose a smaller --size, or a smaller --chunk or "
              "--batch-size", file=sys.stderr)
        return 1
    print(f"hinr: internal error: {type(err).__name__}: {first_line(err)} — please report it at "
          f"{ISSUES}; HINR_DEBUG=1 shows the traceback", file=sys.stderr)
    return 1
