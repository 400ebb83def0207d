"""The terminal side of the CLI: the stderr console and progress bars.

Only the CLI writes to the terminal (the library reports progress through ``(done, total)``
callbacks). Results go to stdout; progress bars to stderr, shown only when stderr is a terminal.
A bar appears once its task has run ``delay`` seconds (short jobs stay quiet) and is finished
with a newline when its task ends, so the result line printed next starts a line of its own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[int, int], None]  # (done, total)
DELAY_S = 1.0  # a bar appears once its task has run this long
_BARS_ON_SCREEN = 0  # bars started and not yet ended with their newline


def line_open() -> bool:
    """Whether a progress bar may have left the cursor mid-line (a signal cut its ending short),
    so that the next message must start a line of its own."""
    return _BARS_ON_SCREEN > 0


def stderr_console():
    """A rich Console on stderr (progress, logs, messages)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, *, count: bool = False, delay: float | None = None,
                 console=None) -> Iterator[Progress]:
    """One progress bar on stderr for one task; yields the task's ``(done, total)`` callback.

    count=True shows "done/total" (images, steps); else a percentage. Both show the time left.
    The bar starts after ``delay`` seconds (default ``DELAY_S``) and stays on screen, ended by a newline, when the
    block exits (on success or failure).
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)

    global _BARS_ON_SCREEN
    console = console or stderr_console()
    columns = [TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn() if count else TaskProgressColumn(), TimeRemainingColumn()]
    bars = Bars(*columns, console=console, transient=False, redirect_stdout=False,
                redirect_stderr=False, disable=not console.is_terminal)
    task = bars.add_task(description, total=None)
    delay = DELAY_S if delay is None else delay
    began = time.monotonic()
    shown = False

    def update(done: int, total: int) -> None:
        global _BARS_ON_SCREEN
        nonlocal shown
        bars.update(task, completed=done, total=total)
        if not shown and time.monotonic() - began >= delay:
            _BARS_ON_SCREEN += 1
            shown = True
            bars.start()

    try:
        yield update
    finally:
        if shown:
            bars.refresh()
            bars.stop()
            _BARS_ON_SCREEN -= 1
