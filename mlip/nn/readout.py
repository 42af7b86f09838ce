"""Shallow ensemble of energy readouts: K heads on the same invariant features, in one matmul.

Each head is ``Linear(C, H) -> SiLU -> Linear(H, 1)`` (``H = 0``: ``Linear(C, 1)``), the heads'
first layers stacked into one ``Linear(C, K*H)`` so K heads cost about as much as one. Used by
the last interaction block when ``readout_heads > 1`` (Kellner & Ceriotti 2024, shallow ensembles).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class EnsembleReadout(nn.Module):
    """``[N, C]`` invariant features -> ``[N, K]`` per-atom energies of K independent heads."""

    def __init__(self, channels: int, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.hidden = hidden
        if hidden > 0:
            self.first = nn.Linear(channels, heads * hidden)
            bound = 1.0 / math.sqrt(hidden)
            self.weight = nn.Parameter(torch.empty(heads, hidden).uniform_(-bound, bound))
        else:
            self.first = nn.Linear(channels, heads)
            self.weight = nn.Parameter(torch.ones(heads, 1))
        self.bias = nn.Parameter(torch.zeros(heads))

    def forward(self, x: Tensor) -> Tensor:
        if self.hidden == 0:
            return self.first(x) * self.weight.view(1, -1) + self.bias
        h = torch.nn.functional.silu(self.first(x)).view(x.shape[0], self.heads, self.hidden)
        return (h * self.weight.unsqueeze(0)).sum(2) + self.bias

    @torch.jit.unused
    def copy_from_single(self, readout: nn.Sequential, noise: float, generator: torch.Generator | None = None) -> None:
        """Every head = the single-head ``readout`` (``Linear[, SiLU, Linear]``), plus Gaussian
        noise of ``noise`` times each weight tensor's RMS so that the heads start apart."""

        def jitter(t: Tensor) -> Tensor:
            rms = float(t.detach().square().mean().sqrt()) or 1.0
            return t + noise * rms * torch.randn(t.shape, generator=generator, dtype=t.dtype)

        with torch.no_grad():
            lin1 = readout[0]
            if self.hidden > 0:
                lin2 = readout[2]
                self.first.weight.copy_(jitter(lin1.weight.repeat(self.heads, 1)))
                self.first.bias.copy_(jitter(lin1.bias.repeat(self.heads)))
                self.weight.copy_(jitter(lin2.weight.view(1, -1).repeat(self.heads, 1)))
                self.bias.copy_(lin2.bias.repeat(self.heads))
            else:
                self.first.weight.copy_(jitter(lin1.weight.repeat(self.heads, 1)))
                self.first.bias.copy_(lin1.bias.repeat(self.heads))
                self.weight.fill_(1.0)
                self.bias.zero_()
