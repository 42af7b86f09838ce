"""Interaction block: equivariant message passing, a higher-order product basis, update, readout.

Shapes: node features ``[D, N, C]`` (see mlip.nn.equivariant), edge spherical harmonics
``[D_sh, E]``, per-edge radial weights ``[E, W]``.

Message from neighbour j to centre i, channel c (``h`` after a channel-mixing linear map):

    m_ij = sum_l' [ sum_l R_{l,l'}(r_ij) s^l_ij ] Y^l'(r_ij)  +  sum_{l>=1} R'_l(r_ij) h^l_j
    s^0_ij = h^0_j,   s^l_ij = h^l_j . Y^l(r_ij) / sqrt(2l+1)

i.e. every sender feature is first contracted with the edge direction to an invariant (the
1o x 1o -> 0e, 2e x 2e -> 0e, ... paths) and re-expanded over the spherical harmonics, plus the
l x 0e -> l paths; that keeps the per-edge work at O(C (lmax_sh+1)^2) with no per-edge
Clebsch-Gordan products. A_i = (1/avg_num_neighbors) sum_j m_ij.

Body order comes from the product basis on atoms (MACE's symmetric contraction in ACE's coupled
form): B = w1 A + w2 (A x A) + w3 ((A x A) x A), channel-wise, every coupling path weighted per
species and channel; up to correlation 3 (4-body messages, 5-body with the centre per layer).
"""

from __future__ import annotations

import math

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


class Interaction(nn.Module):
    """Messages (see module doc) aggregated on the centre atoms, then mixed by a linear map."""

    def __init__(self, channels: int, l_in: int, sh_lmax: int, avg_num_neighbors: float):
        super().__init__()
        self.channels = channels
        self.l_in = l_in
        self.sh_lmax = sh_lmax
        self.num_coef = (l_in + 1) * (sh_lmax + 1) * channels
        self.num_weights = self.num_coef + l_in * channels
        self.inv_avg = 1.0 / float(avg_num_neighbors)
        self.linear_up = EquivariantLinear(channels, channels, l_in)
        self.linear = EquivariantLinear(channels, channels, sh_lmax)
        self.register_buffer("l_index_sh", l_of_m(sh_lmax), persistent=False)
        self.register_buffer("l_index_pass", (l_of_m(l_in)[1:] - 1).clamp(min=0), persistent=False)

    def forward(self, h: Tensor, y: Tensor, radial: Tensor, sender: Tensor, receiver: Tensor) -> Tensor:
        n, c, e = h.shape[1], self.channels, y.shape[1]
        big_l, ls = self.l_in, self.sh_lmax
        hj = self.linear_up(h).index_select(1, sender)  # [D_in, E, C]
        coef_w = radial[:, : self.num_coef].reshape(e, big_l + 1, ls + 1, c)
        inv = [hj[0]]
        for l in range(1, big_l + 1):
            lo, hi = l * l, (l + 1) * (l + 1)
            inv.append((hj[lo:hi] * y[lo:hi].unsqueeze(-1)).sum(0) * (1.0 / math.sqrt(2 * l + 1)))
        s = torch.stack(inv, 1)  # [E, L+1, C]
        coef = (coef_w * s.unsqueeze(2)).sum(1).transpose(0, 1)  # [Ls+1, E, C]
        msg = coef.index_select(0, self.l_index_sh) * y.unsqueeze(-1)  # [D_sh, E, C]
        agg = torch.zeros(msg.shape[0], n, c, dtype=msg.dtype, device=msg.device).index_add_(1, receiver, msg)
        if big_l > 0:
            w_pass = radial[:, self.num_coef :].reshape(e, big_l, c).transpose(0, 1)
            msg_pass = hj[1:] * w_pass.index_select(0, self.l_index_pass)  # [D_in - 1, E, C]
            agg_pass = torch.zeros(msg_pass.shape[0], n, c, dtype=msg.dtype, device=msg.device)
            agg_pass = agg_pass.index_add_(1, receiver, msg_pass)
            d_in = (big_l + 1) * (big_l + 1)
            agg = torch.cat([agg[:1], agg[1:d_in] + agg_pass, agg[d_in:]], 0)
        return self.linear(agg * self.inv_avg)


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
            self.w2 = nn.Parameter(torch.zeros(0))
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
            self.u = nn.Parameter(torch.zeros(0))
            self.w3 = nn.Parameter(torch.zeros(0))

    @staticmethod
    def _couple(x: Tensor, cg: Tensor, w: Tensor, path_of_k: Tensor, species: Tensor) -> Tensor:
        """Clebsch-Gordan matrix times pair products, each path scaled per atom species/channel."""
        p, n, c = x.shape
        t = torch.mm(cg, x.reshape(p, n * c)).view(-1, n, c)  # [K, N, C]
        wk = w.index_select(0, species).index_select(1, path_of_k).transpose(0, 1)  # [K, N, C]
        return (t * wk).reshape(-1, n * c)

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
    """Interaction -> product basis -> linear + species-dependent residual -> energy readout."""

    def __init__(
        self,
        channels: int,
        l_in: int,
        l_out: int,
        sh_lmax: int,
        correlation: int,
        num_species: int,
        avg_num_neighbors: float,
        weight_slice: tuple[int, int],
        readout_hidden: int,
    ):
        super().__init__()
        self.interaction = Interaction(channels, l_in, sh_lmax, avg_num_neighbors)
        self.product = ProductBasis(channels, sh_lmax, l_out, correlation, num_species)
        self.linear_out = EquivariantLinear(channels, channels, l_out)
        l_skip = min(l_in, l_out)
        self.d_skip = dim(l_skip)
        self.skip = SpeciesLinear(channels, channels, l_skip, num_species)
        self.w_start, self.w_end = int(weight_slice[0]), int(weight_slice[1])
        if readout_hidden > 0:
            self.readout = nn.Sequential(nn.Linear(channels, readout_hidden), nn.SiLU(), nn.Linear(readout_hidden, 1))
        else:
            self.readout = nn.Sequential(nn.Linear(channels, 1))

    def forward(
        self, h: Tensor, species: Tensor, y: Tensor, radial: Tensor, sender: Tensor, receiver: Tensor
    ) -> tuple[Tensor, Tensor]:
        a = self.interaction(h, y, radial[:, self.w_start : self.w_end], sender, receiver)
        out = self.linear_out(self.product(a, species))
        skip = self.skip(h[: self.d_skip], species)
        if out.shape[0] == self.d_skip:
            out = out + skip
        else:
            out = torch.cat([out[: self.d_skip] + skip, out[self.d_skip :]], 0)
        return out, self.readout(out[0]).squeeze(-1)
