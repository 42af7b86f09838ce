"""Edges regrouped per centre atom, padded, for neighbour sums as batched matrix products.

Atoms are sorted by neighbour count and split into a few groups; each group is padded only to
its own largest count, so a Li-metal region (~25 neighbours within 5 Å) next to a liquid
(~50) does not pay for the liquid's padding.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import Tensor


def group_edges(
    feat: Tensor, receiver: Tensor, sender: Tensor, n: int, n_groups: int = 4, max_group: int = 128
) -> Tuple[List[Tensor], List[Tensor], Tensor]:
    """``(feats, senders, position)``.

    ``feats[g]`` is ``[n_g, K_g, F]``: the features of each edge of the g-th group's atoms, zero in
    padding slots; ``senders[g]`` ``[n_g * K_g]`` the neighbour atom of each slot (0 in padding).
    Group atoms are taken in the order ``argsort(counts, descending)``; ``position[i]`` is atom
    i's row in the concatenation of all groups. At least ``n_groups`` groups, and groups of at most
    about ``max_group`` atoms so each group's neighbour product stays in cache (``max_group`` <= 0:
    exactly ``n_groups``, which must then not exceed n).
    """
    e = receiver.shape[0]
    device = receiver.device
    counts = torch.bincount(receiver, minlength=n)
    atom_order = torch.argsort(counts, descending=True, stable=True)
    position = torch.empty_like(atom_order).index_copy_(0, atom_order, torch.arange(n, device=device))
    # max_group <= 0: exactly n_groups groups whatever n (torch.export: no branch on the atom count)
    g = n_groups if max_group <= 0 else max(min(max(n_groups, (n + max_group - 1) // max_group), n), 1)
    bounds: List[int] = [(k * n) // g for k in range(g + 1)]
    firsts = torch.tensor(bounds[:-1], dtype=torch.int64, device=device).clamp(max=max(n - 1, 0))
    # each group's largest count (at least one slot): clamped as a tensor, so torch.export sees no
    # branch on these data-dependent sizes
    kmaxes: List[int] = counts.index_select(0, atom_order).index_select(0, firsts).clamp(min=1).tolist() \
        if n > 0 else [1]
    bases: List[Tensor] = []
    sizes: List[int] = []
    offset = 0
    for k in range(g):
        n_g = bounds[k + 1] - bounds[k]
        kmax = kmaxes[k]
        bases.append(offset + kmax * torch.arange(n_g, dtype=torch.int64, device=device))
        sizes.append(n_g * kmax)
        offset += n_g * kmax
    base = torch.cat(bases)  # slot of each sorted atom's first edge
    order = torch.argsort(receiver, stable=True)
    recv_sorted = receiver.index_select(0, order)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(e, dtype=torch.int64, device=device) - start.index_select(0, recv_sorted)
    flat = base.index_select(0, position.index_select(0, recv_sorted)) + rank
    slot_of_edge = torch.empty_like(flat).index_copy_(0, order, flat)
    padded = torch.zeros(offset, feat.shape[1], dtype=feat.dtype, device=feat.device).index_copy(0, slot_of_edge, feat)
    sender_pad = torch.zeros(offset, dtype=sender.dtype, device=device).index_copy_(0, slot_of_edge, sender)
    feats: List[Tensor] = []
    senders: List[Tensor] = []
    offset = 0
    for k in range(g):
        n_g = bounds[k + 1] - bounds[k]
        feats.append(padded[offset : offset + sizes[k]].view(n_g, kmaxes[k], feat.shape[1]))
        senders.append(sender_pad[offset : offset + sizes[k]])
        offset += sizes[k]
    return feats, senders, position
