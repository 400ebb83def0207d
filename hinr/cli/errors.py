"""How the CLI reports failure: one line on stderr and an exit code, a traceback only with
HINR_DEBUG=1.

- ``hinr.errors.HinrError`` (and its CLI subclasses below): the user can fix it; one line
  "hinr: error: …", exit 1 (2 for usage errors, ``HinrUsageError``).
- ``Interrupted``: Ctrl-C, SIGTERM or SIGHUP; one line, exit 128 + the signal number (130 for Ctrl-C).
- Anything else is a bug in hinr: one "internal error … please report it" line, exit 1.
"""

from __future__ import annotations

import os
import signal
import sys

from ..errors import HinrError, HinrUsageError

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


def _known_library_errors() -> tuple[type[BaseException], ...]:
    """Library errors the user can fix that do not derive from HinrError yet (being converted)."""
    from ..checkpoint import CheckpointError
    from ..data.errors import HinrDataError

    return (CheckpointError, HinrDataError)


def debug_enabled() -> bool:
    return os.environ.get("HINR_DEBUG", "") not in ("", "0")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def report(err: BaseException) -> int:
    """Print the one line for ``err`` on stderr and return the exit code."""
    if debug_enabled() and not isinstance(err, Interrupted):
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, Interrupted):
        print(f"hinr: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, HinrError):
        print(f"hinr: error: {_first_line(err)}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, _known_library_errors()):
        print(f"hinr: error: {_first_line(err)}", file=sys.stderr)
        return 1
    print(f"hinr: internal error: {type(err).__name__}: {_first_line(err)} — please report it at "
          f"{ISSUES}; HINR_DEBUG=1 shows the traceback", file=sys.stderr)
    return 1
