"""How the CLI reports failure: one actionable line on stderr, exit 1 (runtime) or 2 (usage),
a traceback only with HINR_DEBUG=1."""

from __future__ import annotations

import os
import sys


class UsageError(Exception):
    """Bad arguments: exit code 2."""


class RuntimeFailure(Exception):
    """A failure at run time that the user can fix (bad file, missing data): exit code 1."""


def debug_enabled() -> bool:
    return os.environ.get("HINR_DEBUG", "") not in ("", "0")


def report(err: BaseException) -> int:
    """Print the one-line message for ``err`` and return the exit code."""
    code = 2 if isinstance(err, UsageError) else 1
    if debug_enabled():
        import traceback

        traceback.print_exception(err, file=sys.stderr)
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    print(f"hinr: error: {message}", file=sys.stderr)
    return code
