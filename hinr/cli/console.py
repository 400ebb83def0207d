"""The terminal side of the CLI: the stderr console and progress bars.

Only the CLI writes to the terminal (the library reports progress through ``(done, total)``
callbacks). Results go to stdout; progress to stderr: a bar on a terminal, and plain lines
("name: 42% (1.3 s left)") every ``LINE_EVERY_S`` seconds when stderr is a pipe or a file, so
logs and schedulers see life. Either appears once its task has run ``delay`` seconds (short jobs
stay quiet); a bar is finished with a newline when its task ends, so the result line printed
next starts a line of its own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[int, int], None]  # (done, total)
DELAY_S = 1.0  # a bar appears once its task has run this long
LINE_EVERY_S = 5.0  # off a terminal: one progress line this often
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
    if not console.is_terminal:  # a log gets its first line once the task has run LINE_EVERY_S
        with progress_lines(description, count=count, console=console,
                            delay=max(LINE_EVERY_S, DELAY_S if delay is None else delay)) as update:
            yield update
        return
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


@contextmanager
def progress_lines(description: str, *, count: bool, console, delay: float,
                   every: float = LINE_EVERY_S) -> Iterator[Progress]:
    """``progress_bar`` off a terminal: a plain line every ``every`` seconds once the task has run
    ``delay`` seconds, with the fraction done and the time left at the rate so far."""
    began = time.monotonic()
    last = began + delay - every  # the first line as soon as ``delay`` has passed

    def update(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - began < delay or now - last < every or total <= 0:
            return
        last = now
        amount = f"{done}/{total}" if count else f"{100 * done / total:.0f}%"
        left = (now - began) * (total - done) / done if done else None
        eta = "" if left is None else f" ({_duration(left)} left)"
        console.print(f"{description}: {amount}{eta}", highlight=False, markup=False, soft_wrap=True)

    yield update


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
