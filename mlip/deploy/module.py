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

Each member is a :class:`mlip.model.output.ForceStressOutput` (the force/virial code training
uses); this module adds only the committee and head statistics and the LAMMPS virial order
(``combine``, which LAMMPS' per-layer halo pass calls too: :mod:`mlip.deploy.halo`).
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import Tensor, nn

from mlip.model.output import LAMMPS_ORDER, ForceStressOutput


class DeployedPotential(nn.Module):
    def __init__(self, members: List[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("a deployed potential needs at least one member")
        heads = {int(getattr(m, "n_heads", 1)) for m in members}
        if len(heads) != 1:
            raise ValueError(f"committee members must share one number of readout heads, got {sorted(heads)}")
        self.members = nn.ModuleList([ForceStressOutput(m) for m in members])
        self.n_members = len(members)
        self.n_heads = heads.pop()
        self.lammps_order = list(LAMMPS_ORDER)

    def forward(self, species: Tensor, edge_index: Tensor, edge_vec: Tensor, n_local: int) -> Dict[str, Tensor]:
        batch = torch.zeros(species.shape[0], dtype=torch.int64, device=species.device)
        outs: List[Dict[str, Tensor]] = []
        for member in self.members:
            outs.append(member(species, edge_index, edge_vec, batch, 1, n_local, None, False))
        return self.combine(outs, n_local)

    @torch.jit.export
    def combine(self, outs: List[Dict[str, Tensor]], n_local: int) -> Dict[str, Tensor]:
        """The outputs above from each member's :class:`ForceStressOutput` dict (``energy`` [1],
        ``node_energy``, ``forces``, ``virial`` [1, 6] in ASE order, the heads' deviations)."""
        energies = torch.stack([o["energy"][0] for o in outs])
        node_energies = torch.stack([o["node_energy"] for o in outs])
        member_forces = torch.stack([o["forces"] for o in outs])
        virial = torch.stack([o["virial"][0] for o in outs]).mean(0)[self.lammps_order]
        out: Dict[str, Tensor] = {"energy": energies.mean(), "node_energy": node_energies.mean(0),
                                  "forces": member_forces.mean(0), "virial": virial}
        if self.n_heads > 1:
            out.update(self._head_statistics(outs, energies, n_local))
        if self.n_members > 1:
            out.update(self._committee_statistics(energies, node_energies, member_forces, n_local))
        return out

    def _head_statistics(self, outs: List[Dict[str, Tensor]], energies: Tensor, n_local: int) -> Dict[str, Tensor]:
        head_dev = torch.stack([o["head_energy_dev"][0] for o in outs])  # [M, K]
        atom_std = torch.stack([o["head_node_dev"].square().mean(1).sqrt() for o in outs]).mean(0)
        return {"head_energies": (energies.unsqueeze(1) + head_dev).mean(0),
                "head_energy_std": head_dev.square().mean(1).sqrt().mean(),
                "atom_energy_std": atom_std, "max_atom_energy_std": _local_max(atom_std, n_local)}

    def _committee_statistics(self, energies: Tensor, node_energies: Tensor, member_forces: Tensor,
                              n_local: int) -> Dict[str, Tensor]:
        mean_forces = member_forces.mean(0)
        force_dev = ((member_forces - mean_forces.unsqueeze(0)) ** 2).sum(2).mean(0).sqrt()
        return {"energy_std": energies.std(unbiased=False), "force_dev": force_dev,
                "max_force_dev": _local_max(force_dev, n_local), "member_energies": energies,
                "member_forces": member_forces, "member_node_energies": node_energies}


def _local_max(values: Tensor, n_local: int) -> Tensor:
    """The largest of the first ``n_local`` values, all >= 0 (zero when there are none; no branch
    on ``n_local``, so a torch.export program serves any count)."""
    return torch.cat([values[:n_local], torch.zeros(1, dtype=values.dtype, device=values.device)]).max()
