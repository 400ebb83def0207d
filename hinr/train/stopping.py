"""Stopping a training from outside without losing steps: SIGTERM (what a scheduler, ``kill`` or
the end of a session sends first) asks the trainer to checkpoint the step it is on and return,
instead of dying with everything since the last checkpoint. A second SIGTERM, or any other
signal, ends the process as usual.

    with stop_on_sigterm(trainer):
        trainer.fit()
    if trainer.stopped_early: ...   # the checkpoint holds trainer.step
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def stop_on_sigterm(trainer) -> Iterator[None]:
    """Within the block, the first SIGTERM calls ``trainer.request_stop()`` (main thread only:
    elsewhere signals cannot be caught, and the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame) -> None:
        trainer.request_stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
