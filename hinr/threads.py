"""OpenMP's wait policy, chosen once before torch loads (it is read when the OpenMP runtime starts).

OpenMP's threads spin for a while at every barrier. On a quiet computer that is the fastest way to
wait; beside other running work the spinning thread's partner is descheduled and the spinning
burns its whole time slice: a 1080p upscale beside a 2-thread torch job took 3-7× its quiet time,
and 21× under a mix of jobs. Passive waiting (sleep at once) fixes that, but costs a wake-up at each
of the thousands of parallel regions of an upscale: +8 to +22 % on a quiet 2-core machine
(docs/results.md). So hinr looks before it chooses: when other tasks are running now the threads
wait passively, otherwise OpenMP keeps its own policy (``hinr serve`` always waits passively: a
server outlives the quiet moment it started in).
A value of ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the user's environment always wins.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, MutableMapping

BUSY = 0.5  # other runnable tasks, on average, from which the threads wait passively
SAMPLES = 5  # reads of the instantaneous run queue, ``INTERVAL_S`` apart
INTERVAL_S = 0.001


def running_tasks() -> int | None:
    """Tasks running or ready to run on the whole machine now, this one included (Linux's
    /proc/loadavg); None where that is not known."""
    try:
        with open("/proc/loadavg", encoding="ascii") as file:
            return int(file.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def cpus_elsewhere() -> int:
    """The machine's CPUs this process may not run on (another container's, another job's)."""
    try:
        return max(0, (os.cpu_count() or 1) - len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return 0


def others_busy(now: Callable[[], int | None] = running_tasks) -> bool:
    """True when other work competes for this process's CPUs: on average over a few milliseconds,
    at least ``BUSY`` more tasks running than the CPUs this process may not use. Where that is not
    known (macOS, Windows), True: the passive policy is the one that never turns a busy computer
    into a 20× slowdown. (The load average is not used: a script's own previous upscales would
    count as other work for a minute.)"""
    samples = []
    for i in range(SAMPLES):
        if i:
            time.sleep(INTERVAL_S)
        count = now()
        if count is None:
            return True
        samples.append(count - 1)  # this process is running, reading
    return sum(samples) / len(samples) >= BUSY + cpus_elsewhere()


def choose_wait_policy(environ: MutableMapping[str, str] = os.environ,
                       busy: Callable[[], bool] = others_busy) -> str | None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` when other work is running; returns the policy
    set (None: the user's own, or OpenMP's default on a quiet computer)."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return None
    if busy():
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    return None
