"""Training: the config, the samples of every data source, the loop and its resumable state."""

from .config import TrainConfig
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer"]
