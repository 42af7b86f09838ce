"""Training: ``train(config, resume)``, configs, checkpoints (``load_model``), DDP, logging.

Module map (NequIP-like split): ``config`` (TrainConfig), ``data`` (splits, statistics,
loaders), ``loss``, ``ema``, ``schedule``, ``checkpoint``, ``distributed``, ``logging``,
``plots``, and ``loop`` (the epoch loop itself).
"""

from mlip.model.io import load_checkpoint
from mlip.model.io import load_potential as load_model
from mlip.train.checkpoint import FORMAT_VERSION
from mlip.train.config import TrainConfig, load_train_config

__all__ = ["FORMAT_VERSION", "TrainConfig", "load_checkpoint", "load_model", "load_train_config", "train"]


def train(config, resume: bool = False) -> dict:
    """Train the run described by ``config`` (a TrainConfig); see ``mlip.train.loop``."""
    from mlip.train.loop import train as _train

    return _train(config, resume=resume)
