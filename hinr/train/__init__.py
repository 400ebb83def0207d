"""Training: the config, the samples of every data source, the loop and its resumable state.

``Trainer`` is imported lazily, so reading the config (what ``hinr train --help`` derives its
options from) does not load torch."""

from __future__ import annotations

from .config import TrainConfig

__all__ = ["TrainConfig", "Trainer"]


def __getattr__(name: str):
    if name == "Trainer":
        from .trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'hinr.train' has no attribute {name!r}")
