"""Radial features of edge lengths: Bessel basis, smooth polynomial cutoff envelope, radial MLP."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class BesselBasis(nn.Module):
    """``sin(n pi r / rc) / r`` for n = 1..num (DimeNet/NequIP/MACE), scaled to unit mean square
    for neighbours spread uniformly in the cutoff sphere (``sqrt(2/rc) * sqrt(rc^3/3)``)."""

    def __init__(self, cutoff: float, num: int = 8):
        super().__init__()
        self.register_buffer("freqs", math.pi / cutoff * torch.arange(1, num + 1, dtype=torch.get_default_dtype()))
        self.prefactor = math.sqrt(2.0 / cutoff) * math.sqrt(cutoff**3 / 3.0)

    def forward(self, r: Tensor) -> Tensor:  # [E] -> [E, num]
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freqs * r) / r


class PolynomialEnvelope(nn.Module):
    """DimeNet's polynomial cutoff: 1 at r=0, and value, first and second derivative 0 at r=rc;
    exactly zero beyond (edges past the cutoff, e.g. a LAMMPS skin, contribute nothing)."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)

    def forward(self, r: Tensor) -> Tensor:
        p = self.p
        x = r / self.cutoff
        xp = torch.pow(x, p)
        env = 1.0 - 0.5 * (p + 1.0) * (p + 2.0) * xp + p * (p + 2.0) * xp * x - 0.5 * p * (p + 1.0) * xp * x * x
        return env * (x < 1.0).to(r.dtype)


class ScaledSiLU(nn.Module):
    """SiLU with unit second moment for unit-normal inputs (e3nn's normalize2mom)."""

    def __init__(self):
        super().__init__()
        self.scale = 1.6790

    def forward(self, x: Tensor) -> Tensor:
        return torch.nn.functional.silu(x) * self.scale


class RadialMLP(nn.Module):
    """Bessel features -> SiLU MLP -> R radial functions; one MLP serves every interaction layer.
    Variance-preserving initialisation, so unit-scale inputs give unit-scale outputs."""

    def __init__(self, num_in: int, hidden: int, layers: int, num_out: int):
        super().__init__()
        mods = []
        width = num_in
        for _ in range(layers):
            mods += [_normal_linear(width, hidden, bias=True), ScaledSiLU()]
            width = hidden
        mods.append(_normal_linear(width, num_out, bias=False))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _normal_linear(n_in: int, n_out: int, bias: bool) -> nn.Linear:
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.normal_(0.0, 1.0 / math.sqrt(n_in))
        if bias:
            layer.bias.zero_()
    return layer
