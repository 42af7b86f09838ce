"""Learning-rate schedule: linear warmup, then plateau reduction, cosine decay or constant.

One small class whose state is plain numbers, so a checkpoint stays weights_only-loadable and a
resumed run sets exactly the learning rate the uninterrupted one would have.
"""

from __future__ import annotations

import math

import torch

from mlip.train.config import SchedulerConfig


class LRSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, config: SchedulerConfig, base_lr: float,
                 max_epochs: int, steps_per_epoch: int):
        self.optimizer = optimizer
        self.config = config
        self.base_lr = base_lr
        self.total_steps = max(1, max_epochs * steps_per_epoch)
        self.warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
        self.step_count = 0
        self.factor = 1.0  # product of plateau reductions and stage changes
        self.best = math.inf
        self.bad_epochs = 0
        self._apply()

    def lr(self) -> float:
        c = self.config
        lr = self.base_lr * self.factor
        if self.step_count < self.warmup_steps:
            return lr * (self.step_count + 1) / (self.warmup_steps + 1)
        if c.kind == "cosine":
            t = (self.step_count - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
            lr = c.min_lr + (lr - c.min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return max(lr, c.min_lr) if c.kind != "constant" else lr

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()

    def step(self) -> None:
        """After each optimiser step."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, metric: float) -> None:
        """After each validation: plateau bookkeeping."""
        if metric < self.best:
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.config.kind == "plateau" and self.bad_epochs > self.config.patience:
            self.factor *= self.config.factor
            self.bad_epochs = 0
            self._apply()

    def scale(self, factor: float) -> None:
        self.factor *= factor
        self._apply()

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "factor": self.factor, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.factor = float(state["factor"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self._apply()
