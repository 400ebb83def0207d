"""Training for a wall-clock budget instead of a step count (the architecture comparisons and the
GPU run): the cosine schedule is stretched to the step the current pace reaches when the time is
up, the model is validated at evenly spaced times, and the best validation is what is saved."""

from __future__ import annotations

import time
from typing import Callable

from .trainer import Trainer


def fit_for(trainer: Trainer, minutes: float, *, val_points: int = 6,
            on_validation: Callable[[dict], None] | None = None) -> float:
    """Train ``trainer`` for ``minutes`` of wall-clock time; return the best held-out PSNR.

    Validates ``val_points`` times (and once more at the end); each validation is passed to
    ``on_validation`` as {"step", "minutes", the trainer's validation metrics, "saved"} and saves
    the model when it is the best so far."""
    budget, start, best, next_val = minutes * 60.0, time.perf_counter(), -1.0, 0.0
    while True:
        elapsed = time.perf_counter() - start
        done = elapsed >= budget
        if elapsed >= next_val or done:
            val = trainer.validate()
            trainer.model.train()
            row = {"step": trainer.step, "minutes": round(elapsed / 60, 3), **val}
            if val.get("val_psnr", -1.0) > best:
                best = val["val_psnr"]
                trainer.save()
                row["saved"] = True
            if on_validation is not None:
                on_validation(row)
            next_val += budget / val_points
        if done:
            return best
        if trainer.step > 20:  # the schedule's end: the step this pace reaches in the budget
            trainer.cfg.steps = max(trainer.step + 1, round(trainer.step * budget / elapsed))
        trainer.train_step()
