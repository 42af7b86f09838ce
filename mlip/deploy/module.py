"""The TorchScript module inside every deployed file: one potential or a committee of them.

``forward(species, edge_index, edge_vec, n_local)`` takes a graph whose first ``n_local`` atoms
are the ones whose energy counts (LAMMPS owned atoms; all atoms for ASE) and returns:

- ``energy``: sum of the node energies of the first ``n_local`` atoms (committee: mean),
- ``node_energy`` [N], ``forces`` [N, 3] on *all* N atoms (ghosts included, for LAMMPS' reverse
  communication), from one autograd pass with respect to ``edge_vec``,
- ``virial`` [6] in LAMMPS order (xx, yy, zz, xy, xz, yz), equal to -stress * volume,
- committee only: ``energy_std``, ``force_dev`` [N] (sqrt(mean_k |F_k - <F>|^2), DP-GEN style),
  ``max_force_dev`` (over the first ``n_local`` atoms), ``member_energies`` [K],
  ``member_forces`` [K, N, 3] (LAMMPS needs them to form deviations after ghost forces reach
  their owners) and ``member_node_energies`` [K, N] (the per-atom energy spread of LAMMPS'
  ``model_devi`` output; optional for readers: files written before it lack it).
- shallow ensemble only (members with ``readout_heads`` K > 1; committee: averaged over members):
  ``head_energies`` [K], ``head_energy_std`` (std of the heads' energies of the first ``n_local``
  atoms), ``atom_energy_std`` [N] (per-atom std over heads) and ``max_atom_energy_std`` (over
  the first ``n_local`` atoms). They come from the heads' outputs at no extra autograd cost.

Positions enter only through ``edge_vec = pos[j] - pos[i] + shift`` (row 0 of ``edge_index`` is
the centre i, row 1 the neighbour j), so forces and virial both follow from dE/d(edge_vec).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor, nn


class DeployedPotential(nn.Module):
    def __init__(self, members: List[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("a deployed potential needs at least one member")
        self.members = nn.ModuleList(members)
        self.n_members = len(members)
        heads = {int(getattr(m, "n_heads", 1)) for m in members}
        if len(heads) != 1:
            raise ValueError(f"committee members must share one number of readout heads, got {sorted(heads)}")
        self.n_heads = heads.pop()

    def forward(self, species: Tensor, edge_index: Tensor, edge_vec: Tensor, n_local: int) -> Dict[str, Tensor]:
        n_atoms = species.shape[0]
        leaves: List[Tensor] = []
        node_energies: List[Tensor] = []
        energies: List[Tensor] = []
        head_devs: List[Tensor] = []
        atom_stds: List[Tensor] = []
        total = torch.zeros((), dtype=edge_vec.dtype, device=edge_vec.device)
        for member in self.members:
            # each member differentiates its own copy: one backward pass gives every member's grads
            vec = edge_vec.detach().requires_grad_(True)
            if hasattr(member, "head_node_energies") and self.n_heads > 1:
                heads = member.head_node_energies(species, edge_index, vec)  # [N, K]
                node_energy = heads.mean(1)
                dev = (heads - node_energy.unsqueeze(1)).detach()
                head_devs.append(dev[:n_local].sum(0))
                atom_stds.append(dev.square().mean(1).sqrt())
            else:
                node_energy = member(species, edge_index, vec)
            energy = node_energy[:n_local].sum()
            leaves.append(vec)
            node_energies.append(node_energy)
            energies.append(energy)
            total = total + energy
        grads = torch.autograd.grad([total], leaves, allow_unused=True)

        centre = edge_index[0]
        neighbour = edge_index[1]
        forces_list: List[Tensor] = []
        virials: List[Tensor] = []
        for k in range(len(leaves)):
            grad: Optional[Tensor] = grads[k]
            if grad is None:
                g = torch.zeros_like(edge_vec)
            else:
                g = grad
            # edge_vec = x_j - x_i (+ shift): F_i += dE/dvec, F_j -= dE/dvec
            forces = torch.zeros((n_atoms, 3), dtype=edge_vec.dtype, device=edge_vec.device)
            forces = forces.index_add(0, centre, g).index_add(0, neighbour, -g)
            w = -(edge_vec.detach().unsqueeze(2) * g.unsqueeze(1)).sum(0)  # W_ab = -sum r_a dE/dr_b
            virial = torch.stack([w[0, 0], w[1, 1], w[2, 2], 0.5 * (w[0, 1] + w[1, 0]),
                                  0.5 * (w[0, 2] + w[2, 0]), 0.5 * (w[1, 2] + w[2, 1])])
            forces_list.append(forces)
            virials.append(virial)

        out: Dict[str, Tensor] = {}
        if len(head_devs) > 0:
            head_dev = torch.stack(head_devs)  # [M, K]
            out["head_energies"] = (torch.stack(energies).detach().unsqueeze(1) + head_dev).mean(0)
            out["head_energy_std"] = head_dev.square().mean(1).sqrt().mean()
            atom_std = torch.stack(atom_stds).mean(0)
            out["atom_energy_std"] = atom_std
            if n_local > 0:
                out["max_atom_energy_std"] = atom_std[:n_local].max()
            else:
                out["max_atom_energy_std"] = torch.zeros((), dtype=edge_vec.dtype, device=edge_vec.device)
        if self.n_members == 1:
            out["energy"] = energies[0].detach()
            out["node_energy"] = node_energies[0].detach()
            out["forces"] = forces_list[0]
            out["virial"] = virials[0]
            return out

        member_energies = torch.stack(energies).detach()
        member_forces = torch.stack(forces_list)
        mean_forces = member_forces.mean(0)
        force_dev = ((member_forces - mean_forces.unsqueeze(0)) ** 2).sum(2).mean(0).sqrt()
        out["energy"] = member_energies.mean()
        out["node_energy"] = torch.stack(node_energies).detach().mean(0)
        out["forces"] = mean_forces
        out["virial"] = torch.stack(virials).mean(0)
        out["energy_std"] = member_energies.std(unbiased=False)
        out["force_dev"] = force_dev
        if n_local > 0:
            out["max_force_dev"] = force_dev[:n_local].max()
        else:
            out["max_force_dev"] = torch.zeros((), dtype=edge_vec.dtype, device=edge_vec.device)
        out["member_energies"] = member_energies
        out["member_forces"] = member_forces
        out["member_node_energies"] = torch.stack(node_energies).detach()
        return out
