"""Equivariant building blocks on features laid out ``[D, N, C]``.

``D = (lmax+1)^2`` stacks the irreps 0e, 1o, 2e, 3o, ... (natural parity, e3nn's real basis and
"component" normalisation), ``N`` runs over atoms and ``C`` over channels. Every channel
carries the same irreps, so channel mixing is a matmul per degree and channel-wise tensor
products are plain matmuls with precomputed Clebsch-Gordan matrices.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from torch import Tensor, nn


def dim(lmax: int) -> int:
    return (lmax + 1) ** 2


def l_of_m(lmax: int) -> Tensor:
    """For each of the ``(lmax+1)^2`` components, its degree l."""
    return torch.cat([torch.full((2 * l + 1,), l, dtype=torch.int64) for l in range(lmax + 1)])


class SphericalHarmonics(nn.Module):
    """Real spherical harmonics of (not necessarily unit) vectors, ``[E,3] -> [E, D]``."""

    def __init__(self, lmax: int):
        super().__init__()
        self.sh = o3.SphericalHarmonics(list(range(lmax + 1)), normalize=True, normalization="component")

    def forward(self, vec: Tensor) -> Tensor:
        return self.sh(vec)


class EquivariantLinear(nn.Module):
    """Channel mixing within each degree l (no bias, so it commutes with rotations)."""

    def __init__(self, c_in: int, c_out: int, lmax: int):
        super().__init__()
        self.lmax = lmax
        self.weight = nn.Parameter(torch.randn(lmax + 1, c_in, c_out) / math.sqrt(c_in))
        self.register_buffer("l_index", l_of_m(lmax), persistent=False)

    def forward(self, x: Tensor) -> Tensor:  # [D, N, c_in] -> [D, N, c_out]
        if self.lmax == 0:
            return torch.matmul(x, self.weight[0])
        return torch.bmm(x, self.weight.index_select(0, self.l_index))


class SpeciesLinear(nn.Module):
    """An equivariant linear map whose weights depend on the species of each atom."""

    def __init__(self, c_in: int, c_out: int, lmax: int, num_species: int):
        super().__init__()
        self.c_out = c_out
        self.num_species = num_species
        self.weight = nn.Parameter(torch.randn(lmax + 1, c_in, num_species * c_out) / math.sqrt(c_in))
        self.register_buffer("l_index", l_of_m(lmax), persistent=False)

    def forward(self, x: Tensor, species: Tensor) -> Tensor:  # [D, N, c_in], [N] -> [D, N, c_out]
        y = torch.bmm(x, self.weight.index_select(0, self.l_index))  # [D, N, S*c_out]
        y = y.view(x.shape[0], x.shape[1], self.num_species, self.c_out)
        idx = species.view(1, -1, 1, 1).expand(x.shape[0], -1, 1, self.c_out)
        return y.gather(2, idx).squeeze(2)


def coupling_paths(lmax1: int, lmax2: int, lmax_out: int, symmetric: bool) -> list[tuple[int, int, int]]:
    """Degree triples (l1, l2, l3) allowed by the triangle rule and parity (natural parity in and
    out: l1 + l2 + l3 even); with ``symmetric`` only l1 <= l2 (for products of a feature with itself)."""
    paths = []
    for l1 in range(lmax1 + 1):
        for l2 in range(lmax2 + 1):
            if symmetric and l2 < l1:
                continue
            for l3 in range(abs(l1 - l2), min(l1 + l2, lmax_out) + 1):
                if (l1 + l2 + l3) % 2 == 0:
                    paths.append((l1, l2, l3))
    return paths


def coupling_matrix(
    paths, lmax1: int, lmax2: int, symmetric: bool, all_pairs: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Clebsch-Gordan coefficients of all ``paths`` as one dense matrix.

    Returns ``(left, right, cg, path_of_k)``: the products ``x[left] * y[right]`` ([P], the upper
    triangle only when ``symmetric``) times ``cg`` ([P, K]) give every path's output stacked along
    K (path p owns 2*l3+1 rows); ``path_of_k`` [K] says which path owns each row. Each path is
    normalised so unit-variance "component" inputs give unit-variance outputs. Pairs no path uses
    are dropped unless ``all_pairs`` (then the rows run over every pair, x's index major).
    """
    d1, d2 = dim(lmax1), dim(lmax2)
    if symmetric:
        pairs = [(a, b) for a in range(d1) for b in range(a, d2)]
    else:
        pairs = [(a, b) for a in range(d1) for b in range(d2)]
    pair_index = {p: k for k, p in enumerate(pairs)}
    k_total = sum(2 * l3 + 1 for _, _, l3 in paths)
    cg = torch.zeros(len(pairs), k_total, dtype=torch.float64)
    path_of_k = torch.zeros(k_total, dtype=torch.int64)
    k0 = 0
    for p, (l1, l2, l3) in enumerate(paths):
        w = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * math.sqrt(2 * l3 + 1)
        for m1 in range(2 * l1 + 1):
            for m2 in range(2 * l2 + 1):
                a, b = l1 * l1 + m1, l2 * l2 + m2
                if symmetric and b < a:
                    a, b = b, a
                cg[pair_index[(a, b)], k0 : k0 + 2 * l3 + 1] += w[m1, m2]
        path_of_k[k0 : k0 + 2 * l3 + 1] = p
        k0 += 2 * l3 + 1
    used = cg.abs().sum(1) > 1e-12
    if all_pairs:
        used = torch.ones(len(pairs), dtype=torch.bool)
    left = torch.tensor([a for a, _ in pairs], dtype=torch.int64)[used]
    right = torch.tensor([b for _, b in pairs], dtype=torch.int64)[used]
    return left, right, cg[used], path_of_k


def reduce_matrix(paths, lmax_out: int) -> Tensor:
    """0/1 matrix ``[dim(lmax_out), K]`` summing every path's output into its degree block
    (paths with l3 > lmax_out are dropped)."""
    k_total = sum(2 * l3 + 1 for _, _, l3 in paths)
    red = torch.zeros(dim(lmax_out), k_total, dtype=torch.float64)
    k0 = 0
    for _, _, l3 in paths:
        if l3 <= lmax_out:
            for m in range(2 * l3 + 1):
                red[l3 * l3 + m, k0 + m] = 1.0
        k0 += 2 * l3 + 1
    return red
