"""Ziegler-Biersack-Littmark universal screened-Coulomb repulsion, switched off smoothly.

E_pair(r) = k_e Z_i Z_j / r * phi(r / a),  a = 0.46850 / (Z_i^0.23 + Z_j^0.23) Å,
phi(x) = 0.18175 e^{-3.19980 x} + 0.50986 e^{-0.94229 x} + 0.28022 e^{-0.40290 x} + 0.02817 e^{-0.20162 x},
times a C2 smooth step from 1 below ``inner * (R_i + R_j)`` to 0 above ``outer * (R_i + R_j)``
(R: covalent radii), so only close contacts feel it and bonded geometries are left to the network.
"""

from __future__ import annotations

from typing import Sequence

import torch
from ase.data import atomic_numbers, covalent_radii
from torch import Tensor, nn

COULOMB = 14.399645478425668  # e^2 / (4 pi eps0) in eV Å


class ZBLRepulsion(nn.Module):
    def __init__(self, species: Sequence[str], inner: float = 0.6, outer: float = 1.0):
        super().__init__()
        if not 0.0 <= inner < outer:
            raise ValueError("ZBL switching needs 0 <= inner < outer")
        z = torch.tensor([float(atomic_numbers[s]) for s in species])
        radii = torch.tensor([float(covalent_radii[atomic_numbers[s]]) for s in species])
        self.register_buffer("z", z, persistent=False)
        self.register_buffer("radii", radii, persistent=False)
        self.register_buffer("coef", torch.tensor([0.18175, 0.50986, 0.28022, 0.02817]), persistent=False)
        self.register_buffer("expo", torch.tensor([3.19980, 0.94229, 0.40290, 0.20162]), persistent=False)
        self.inner = float(inner)
        self.outer = float(outer)
        self.coulomb = COULOMB

    def forward(self, species: Tensor, sender: Tensor, receiver: Tensor, r: Tensor) -> Tensor:
        """Per-atom repulsion [N] (each directed edge gives half its pair energy to its centre)."""
        si = species.index_select(0, receiver)
        sj = species.index_select(0, sender)
        zi, zj = self.z.index_select(0, si), self.z.index_select(0, sj)
        rsum = self.radii.index_select(0, si) + self.radii.index_select(0, sj)
        a = 0.46850 / (torch.pow(zi, 0.23) + torch.pow(zj, 0.23))
        x = (r / a).unsqueeze(-1)
        phi = (self.coef * torch.exp(-self.expo * x)).sum(-1)
        pair = self.coulomb * zi * zj / r * phi
        t = ((r - self.inner * rsum) / ((self.outer - self.inner) * rsum)).clamp(0.0, 1.0)
        switch = 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)
        out = torch.zeros(species.shape[0], dtype=r.dtype, device=r.device)
        return out.index_add_(0, receiver, 0.5 * pair * switch)
