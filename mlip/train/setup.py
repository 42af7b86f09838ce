"""What a training run is built from: the model, its DDP wrapper, the optimizer and LR schedule.

:class:`mlip.train.loop.Trainer` calls these in order; each takes the resolved config and returns
what it built, so a run's parts can be made (and tested) one at a time.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from mlip.model import Potential, build_model
from mlip.model.heads import with_readout_heads
from mlip.model.io import load_potential
from mlip.train import distributed as D
from mlip.train.config import TrainConfig, resolve_model_config
from mlip.train.data import fit_statistics
from mlip.train.schedule import LRSchedule


def initial_model(spec: str, heads: int = 1, seed: int = 0) -> Potential:
    """Potential to fine-tune: a checkpoint (EMA weights), a shipped name or a deployed file;
    ``heads`` > 1 turns a single-head model into a shallow ensemble (mlip.model.heads)."""
    model = load_potential(spec)
    return with_readout_heads(model, heads, seed=seed) if heads > 1 else model


def build_potential(config: TrainConfig, train_frames, state: dict | None = None) -> tuple[Potential, dict, TrainConfig]:
    """(model, statistics, config) of a run: restored from a checkpoint ``state``, fine-tuned from
    ``init_from``, or freshly initialised from the training set's statistics. A fine-tuning run's
    architecture is the initial model's: the returned config records it in its ``model`` section."""
    if state is not None:
        model = Potential.from_state(state["model"])
        if config.init_from:
            config = config.model_copy(update={"model": resolve_model_config(state["config"]["model"])})
        return model, state["statistics"], config
    if config.init_from:
        model = initial_model(config.init_from, config.model.readout_heads, config.seed)
        if config.dtype:
            model = model.to(getattr(torch, config.dtype))
        dtype = {"dtype": config.dtype} if config.dtype else {}
        config = config.model_copy(update={"model": resolve_model_config({**model.config_dict, **dtype})})
        return model, {"init_from": config.init_from}, config
    stats = fit_statistics(train_frames, config.data)
    model = build_model(config.model_config_obj(), config.data.species, stats["atomic_energies"],
                        scale=stats["scale"], shift=stats["shift"])
    return model, stats, config


def wrap_distributed(model: nn.Module, info: D.DistInfo) -> nn.Module:
    """``model`` under DistributedDataParallel when the run has several processes, else itself."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # e3nn weights with expanded strides: harmless, DDP copies their gradients into buckets
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return DistributedDataParallel(model, device_ids=[info.device] if info.device.type == "cuda" else None,
                                   gradient_as_bucket_view=True)


def build_optimizer(model: nn.Module, config: TrainConfig, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, LRSchedule]:
    """AdamW (weight decay on matrices only, not on biases and scales) and its LR schedule."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.dim() > 1 else no_decay).append(p)
    o = config.optimizer
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.lr, betas=o.betas, amsgrad=o.amsgrad)
    return optimizer, LRSchedule(optimizer, config.scheduler, o.lr, config.max_epochs, steps_per_epoch)
