"""Exponential moving average of a model's weights (validation, best checkpoint and export use it)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage:
    """Shadow copy of ``model`` updated after each optimiser step.

    The effective decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates, as in
    MACE/NequIP, so early shadows are not dominated by the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.num_updates = 0
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for s, p in zip(self.model.parameters(), model.parameters()):
            s.lerp_(p.detach(), 1.0 - d)
        for s, b in zip(self.model.buffers(), model.buffers()):
            s.copy_(b)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.model.load_state_dict(state["weights"])
