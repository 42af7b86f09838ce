"""Interaction block: equivariant message passing, a higher-order product basis, update, readout.

Shapes: node features ``[D, N, C]`` (see mlip.nn.equivariant). Edges arrive padded per centre
atom in groups (mlip.nn.grouping): ``feats[g] [n_g, K_g, R*D_sh]`` holds ``phi_k(r_ij) Y_b(r_ij)``
(R learned radial functions times the spherical harmonics, zero in padding slots) and
``senders[g] [n_g*K_g]`` the neighbour j of each slot.

Messages are MACE's: the channel-wise ("uvu") tensor product of the neighbour's features with the
edge's spherical harmonics, each path (l_sender, l_edge -> l) weighted by a learned function of
r_ij per channel, summed over neighbours:

    A_i,c,l = (1/avg_neighbours) sum_paths w_p,c sum_j R_p,c(r_ij) [h_j,c (x) Y(r_ij)]_l
    R_(la,lb),c(r) = sum_k W_k,(la,lb),c phi_k(r)

Because the radial weights are linear in R shared radial functions phi_k (MACE's own radial MLP
ends in such a linear layer), the sum over neighbours can be taken *before* the Clebsch-Gordan
coupling: one batched matmul per layer, T_i = sum_j (phi(r_ij) (x) Y(r_ij)) (x) h_j, with no
per-edge channel tensors, then the coupling and the radial mixing on atoms.

Body order comes from the product basis on atoms (MACE's symmetric contraction in ACE's coupled
form): B = w1 A + w2 (A x A) + w3 ((A x A) x A), channel-wise, every coupling path weighted per
species and channel; up to correlation 3 (4-body messages, 5-body with the centre, per layer).
"""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import Tensor, nn

from mlip.nn.equivariant import (
    EquivariantLinear,
    SpeciesLinear,
    coupling_matrix,
    coupling_paths,
    dim,
    l_of_m,
    reduce_matrix,
)
from mlip.nn.readout import EnsembleReadout


class Interaction(nn.Module):
    """Aggregated equivariant messages A (see module doc), then a channel-mixing linear map."""

    def __init__(self, channels: int, l_in: int, sh_lmax: int, radial_rank: int, avg_num_neighbors: float):
        super().__init__()
        self.channels = channels
        self.rank = radial_rank
        self.d_in = dim(l_in)
        self.d_sh = dim(sh_lmax)
        self.inv_avg = 1.0 / float(avg_num_neighbors)
        self.linear_up = EquivariantLinear(channels, channels, l_in)
        self.linear = EquivariantLinear(channels, channels, sh_lmax)
        # paths (l_edge, l_sender -> l): pairs (b, a) edge-major, matching the layout of T
        paths = coupling_paths(sh_lmax, l_in, sh_lmax, symmetric=False)
        _, _, cg, path_of_k = coupling_matrix(paths, sh_lmax, l_in, symmetric=False, all_pairs=True)
        dtype = torch.get_default_dtype()
        self.register_buffer("cg", cg.t().contiguous().to(dtype), persistent=False)  # [K, D_sh*D_in]
        self.register_buffer("red", reduce_matrix(paths, sh_lmax).to(dtype), persistent=False)
        self.register_buffer("path_of_k", path_of_k, persistent=False)
        lb, la = l_of_m(sh_lmax), l_of_m(l_in)
        pair = (lb.view(-1, 1) * (l_in + 1) + la.view(1, -1)).reshape(-1)
        self.register_buffer("pair_of_ba", pair, persistent=False)
        n_pairs = (sh_lmax + 1) * (l_in + 1)
        self.radial_weight = nn.Parameter(torch.randn(radial_rank, n_pairs, channels) / math.sqrt(radial_rank))
        self.path_weight = nn.Parameter(torch.ones(len(paths), channels))

    def forward(self, h: Tensor, feats: List[Tensor], senders: List[Tensor], position: Tensor) -> Tensor:
        """``h`` [D_in, N, C] of every atom (centres and neighbours); returns A [D_sh, N_c, C] of
        the N_c = len(position) centres, the first N_c atoms (all N outside a LAMMPS halo)."""
        n, c = position.shape[0], self.channels
        hu = self.linear_up(h).transpose(0, 1).reshape(h.shape[1], self.d_in * c)  # [N, D_in*C]
        w = self.radial_weight.index_select(1, self.pair_of_ba).reshape(self.rank, -1)
        vs: List[Tensor] = []
        for k in range(len(feats)):  # atom groups of similar neighbour counts
            n_g, kmax = feats[k].shape[0], feats[k].shape[1]
            hn = hu.index_select(0, senders[k]).view(n_g, kmax, self.d_in * c)
            t = torch.bmm(feats[k].transpose(1, 2), hn)  # [n_g, R*D_sh, D_in*C]
            vs.append((t.view(n_g, self.rank, -1) * w).sum(1))
        v = torch.cat(vs, 0).index_select(0, position).view(n, self.d_sh * self.d_in, c)
        a = torch.mm(self.cg, v.transpose(0, 1).reshape(self.d_sh * self.d_in, n * c)).view(-1, n, c)  # [K, N, C]
        a = a * self.path_weight.index_select(0, self.path_of_k).unsqueeze(1)
        a = torch.mm(self.red, a.view(-1, n * c)).view(self.d_sh, n, c)
        return self.linear(a * self.inv_avg)


class ProductBasis(nn.Module):
    """Channel-wise polynomial of A up to ``correlation`` (<= 3) with per-species weights,
    projected onto degrees <= ``lmax_out``."""

    def __init__(self, channels: int, lmax_in: int, lmax_out: int, correlation: int, num_species: int):
        super().__init__()
        if not 1 <= correlation <= 3:
            raise ValueError("correlation must be 1, 2 or 3")
        self.correlation = correlation
        self.lmax_out = lmax_out
        self.d_out = dim(lmax_out)
        lmax_mid = lmax_in if correlation >= 3 else lmax_out
        empty_i = torch.zeros(0, dtype=torch.int64)
        empty_f = torch.zeros(0, 0)
        self.w1 = nn.Parameter(torch.ones(num_species, lmax_out + 1, channels))
        self.register_buffer("l_index_out", l_of_m(lmax_out), persistent=False)
        dtype = torch.get_default_dtype()
        if correlation >= 2:
            paths2 = coupling_paths(lmax_in, lmax_in, lmax_mid, symmetric=True)
            left, right, cg, path_of_k = coupling_matrix(paths2, lmax_in, lmax_in, symmetric=True)
            red = reduce_matrix(paths2, max(lmax_mid, lmax_out))
            n_out = sum(1 for p in paths2 if p[2] <= lmax_out)
            self.register_buffer("left2", left, persistent=False)
            self.register_buffer("right2", right, persistent=False)
            self.register_buffer("cg2", cg.t().contiguous().to(dtype), persistent=False)  # [K2, P]
            self.register_buffer("path_of_k2", path_of_k, persistent=False)
            self.register_buffer("red2_out", red[: self.d_out].to(dtype), persistent=False)
            self.w2 = nn.Parameter(torch.randn(num_species, len(paths2), channels) / math.sqrt(max(n_out, 1)))
        else:
            for name in ("left2", "right2", "path_of_k2"):
                self.register_buffer(name, empty_i, persistent=False)
            for name in ("cg2", "red2_out"):
                self.register_buffer(name, empty_f, persistent=False)
            self.register_buffer("w2", torch.zeros(0, 0, 0), persistent=False)  # unused: no parameter for DDP to miss
        if correlation >= 3:
            paths3 = coupling_paths(lmax_mid, lmax_in, lmax_out, symmetric=False)
            left, right, cg, path_of_k = coupling_matrix(paths3, lmax_mid, lmax_in, symmetric=False)
            red3 = reduce_matrix(paths3, lmax_out)
            self.register_buffer("red2_mid", red[: dim(lmax_mid)].to(dtype), persistent=False)
            self.register_buffer("left3", left, persistent=False)
            self.register_buffer("right3", right, persistent=False)
            self.register_buffer("cg3", cg.t().contiguous().to(dtype), persistent=False)
            self.register_buffer("path_of_k3", path_of_k, persistent=False)
            self.register_buffer("red3", red3.to(dtype), persistent=False)
            self.u = nn.Parameter(torch.randn(num_species, len(paths2), channels) / math.sqrt(len(paths2)))
            self.w3 = nn.Parameter(torch.randn(num_species, len(paths3), channels) / math.sqrt(len(paths3)))
        else:
            for name in ("left3", "right3", "path_of_k3"):
                self.register_buffer(name, empty_i, persistent=False)
            for name in ("red2_mid", "cg3", "red3"):
                self.register_buffer(name, empty_f, persistent=False)
            self.register_buffer("u", torch.zeros(0, 0, 0), persistent=False)
            self.register_buffer("w3", torch.zeros(0, 0, 0), persistent=False)

    @staticmethod
    def _couple(x: Tensor, cg: Tensor, w: Tensor, path_of_k: Tensor, species: Tensor) -> Tensor:
        """Clebsch-Gordan matrix times pair products, each path scaled per atom species/channel."""
        p, n, c = x.shape
        t = torch.mm(cg, x.reshape(p, n * c)).view(-1, n, c)  # [K, N, C]
        wk = w.index_select(0, species).index_select(1, path_of_k).transpose(0, 1)  # [K, N, C]
        return (t * wk).view(-1, n * c)

    def forward(self, a: Tensor, species: Tensor) -> Tensor:  # [D_in, N, C] -> [D_out, N, C]
        n, c = a.shape[1], a.shape[2]
        w1 = self.w1.index_select(0, species).index_select(1, self.l_index_out).transpose(0, 1)
        out = w1 * a[: self.d_out]
        if self.correlation >= 2:
            x2 = a.index_select(0, self.left2) * a.index_select(0, self.right2)
            t2 = self._couple(x2, self.cg2, self.w2, self.path_of_k2, species)
            out = out + torch.mm(self.red2_out, t2).view(self.d_out, n, c)
            if self.correlation >= 3:
                t2u = self._couple(x2, self.cg2, self.u, self.path_of_k2, species)
                b2 = torch.mm(self.red2_mid, t2u).view(-1, n, c)
                x3 = b2.index_select(0, self.left3) * a.index_select(0, self.right3)
                t3 = self._couple(x3, self.cg3, self.w3, self.path_of_k3, species)
                out = out + torch.mm(self.red3, t3).view(self.d_out, n, c)
        return out


class InteractionBlock(nn.Module):
    """Interaction -> product basis -> linear + species-dependent residual -> energy readout
    (``[N, 1]``, or ``[N, K]`` for K ``readout_heads``)."""

    def __init__(
        self,
        channels: int,
        l_in: int,
        l_out: int,
        sh_lmax: int,
        correlation: int,
        num_species: int,
        avg_num_neighbors: float,
        radial_rank: int,
        readout_hidden: int,
        readout_heads: int = 1,
    ):
        super().__init__()
        self.interaction = Interaction(channels, l_in, sh_lmax, radial_rank, avg_num_neighbors)
        self.product = ProductBasis(channels, sh_lmax, l_out, correlation, num_species)
        self.linear_out = EquivariantLinear(channels, channels, l_out)
        l_skip = min(l_in, l_out)
        self.d_skip = dim(l_skip)
        self.skip = SpeciesLinear(channels, channels, l_skip, num_species)
        if readout_heads > 1:  # shallow ensemble (mlip.nn.readout)
            self.readout = EnsembleReadout(channels, readout_hidden, readout_heads)
        elif readout_hidden > 0:
            self.readout = nn.Sequential(nn.Linear(channels, readout_hidden), nn.SiLU(), nn.Linear(readout_hidden, 1))
        else:
            self.readout = nn.Sequential(nn.Linear(channels, 1))

    def forward(
        self, h: Tensor, species: Tensor, feats: List[Tensor], senders: List[Tensor], position: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """New features and energies of the N_c = len(position) centre atoms, the first N_c of
        ``h`` [D_in, N, C] and ``species`` [N] (N_c = N except in the LAMMPS halo exchange)."""
        n_c = position.shape[0]
        centres = species[:n_c]
        a = self.interaction(h, feats, senders, position)
        out = self.linear_out(self.product(a, centres))
        skip = self.skip(h[: self.d_skip, :n_c], centres)
        if out.shape[0] == self.d_skip:
            out = out + skip
        else:
            out = torch.cat([out[: self.d_skip] + skip, out[self.d_skip :]], 0)
        return out, self.readout(out[0])  # [N, heads] (heads = 1 unless an EnsembleReadout)
