"""Energy, forces, virial and stress of a potential: the one derivative wrapper for every use.

:class:`ForceStressOutput` wraps an energy model (a :class:`~mlip.model.Potential`, or one under
DDP) and serves training (``create_graph=True``), evaluation, the ASE calculator and the LAMMPS
plugin alike (NequIP's ``ForceStressOutput`` is the pattern); :func:`energy_forces_stress` runs
it on a batched :class:`~mlip.data.graph.AtomicGraph`.

Positions enter only through ``edge_vec = r_j - r_i (+ shift)`` (row 0 of ``edge_index`` is the
centre i, row 1 the neighbour j). With g_e = dE/d(edge_vec_e):
F_i = sum_{e: i centre} g_e - sum_{e: i neighbour} g_e, and the virial
W = -sum_e sym(edge_vec_e ⊗ g_e) (the strain derivative, as every edge vector scales with the
cell); stress = -W / V (ASE sign: positive = tensile, eV/Å^3).

Voigt order: :data:`VOIGT` (ASE's xx, yy, zz, yz, xz, xy) is the only one computed;
:data:`LAMMPS_ORDER` permutes it to LAMMPS' xx, yy, zz, xy, xz, yz (the permutation is its own
inverse, so the same indices turn a LAMMPS-ordered vector back into ASE order).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

VOIGT_I = (0, 1, 2, 1, 0, 0)
VOIGT_J = (0, 1, 2, 2, 2, 1)
VOIGT = tuple(zip(VOIGT_I, VOIGT_J))
LAMMPS_ORDER = (0, 1, 2, 5, 4, 3)


class ForceStressOutput(nn.Module):
    """``forward(species, edge_index, edge_vec, batch, num_graphs, n_local, cell, create_graph)``.

    The wrapped model maps ``(species, edge_index, edge_vec)`` to per-atom energies of each
    readout head ``[N, K]`` (or ``[N]``: one head). Only the first ``n_local`` atoms' energies count (LAMMPS owned
    atoms; all atoms otherwise), forces are given on all N atoms (ghosts included). Returns
    ``node_energy`` [N] (the heads' mean), ``energy`` [B], ``forces`` [N, 3], ``virial`` [B, 6]
    (ASE Voigt order) and, with ``cell`` [B, 3, 3], ``stress`` [B, 6] (zero for a cell of zero
    volume). With K > 1 heads also ``head_node_dev`` [N, K] (each head's per-atom energy minus
    their mean) and ``head_energy_dev`` [B, K] (its sum over the local atoms of each frame).
    ``create_graph=True`` keeps the graph so force and stress losses backpropagate; otherwise
    every output is detached. Needs grad mode on (:func:`energy_forces_stress` turns it on).
    TorchScript-able.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.voigt_i, self.voigt_j = list(VOIGT_I), list(VOIGT_J)  # attributes: TorchScript reads no tuple globals

    def forward(self, species: Tensor, edge_index: Tensor, edge_vec: Tensor, batch: Tensor, num_graphs: int,
                n_local: int, cell: Optional[Tensor] = None, create_graph: bool = False) -> Dict[str, Tensor]:
        vec = edge_vec.detach().requires_grad_(True)
        heads = self.model(species, edge_index, vec)  # [N, K]
        if heads.dim() == 1:  # a model without readout heads: [N]
            heads = heads.unsqueeze(1)
        out = energy_outputs(heads, batch, num_graphs, n_local)
        grads = torch.autograd.grad([out["energy"].sum()], [vec], create_graph=create_graph,
                                    retain_graph=create_graph, allow_unused=True)
        grad: Optional[Tensor] = grads[0]
        g = torch.zeros_like(vec) if grad is None else grad
        forces, virial = edge_forces_virial(edge_index, vec.detach(), g, batch, num_graphs, species.shape[0],
                                            self.voigt_i, self.voigt_j)
        out["forces"] = forces
        out["virial"] = virial
        if cell is not None:
            volume = torch.linalg.det(cell).abs()
            has_volume = volume > 1e-8
            inv_volume = torch.where(has_volume, 1.0 / torch.where(has_volume, volume, torch.ones_like(volume)),
                                     torch.zeros_like(volume))
            out["stress"] = -virial * inv_volume.unsqueeze(1)
        if not create_graph:
            names: List[str] = list(out.keys())
            for name in names:
                out[name] = out[name].detach()
        return out


def energy_outputs(heads: Tensor, batch: Tensor, num_graphs: int, n_local: int) -> Dict[str, Tensor]:
    """``node_energy`` [N] (the heads' mean) and ``energy`` [B] (its sum over the first
    ``n_local`` atoms of each frame) of per-atom head energies ``heads`` [N, K]; with K > 1 also
    ``head_node_dev`` [N, K] and ``head_energy_dev`` [B, K] (see :class:`ForceStressOutput`)."""
    node_energy = heads.mean(1)
    local = batch[:n_local]
    energy = torch.zeros(num_graphs, dtype=heads.dtype, device=heads.device).index_add(0, local, node_energy[:n_local])
    out: Dict[str, Tensor] = {"energy": energy, "node_energy": node_energy}
    if heads.shape[1] > 1:
        head_node_dev = heads - node_energy.unsqueeze(1)
        out["head_node_dev"] = head_node_dev
        out["head_energy_dev"] = torch.zeros(num_graphs, heads.shape[1], dtype=heads.dtype,
                                             device=heads.device).index_add(0, local, head_node_dev[:n_local])
    return out


def edge_forces_virial(edge_index: Tensor, vec: Tensor, g: Tensor, batch: Tensor, num_graphs: int, n_atoms: int,
                       voigt_i: List[int], voigt_j: List[int]) -> Tuple[Tensor, Tensor]:
    """Forces [n_atoms, 3] and virial [B, 6] (Voigt ``voigt_i, voigt_j``) from the energy gradient
    ``g`` = dE/d(edge_vec) [E, 3] of the edges ``vec`` (module doc: F_i = sum_{i centre} g_e -
    sum_{i neighbour} g_e, W = -sum_e sym(vec_e (x) g_e), edges counted in the frame of their centre)."""
    centre = edge_index[0]
    forces = torch.zeros(n_atoms, 3, dtype=g.dtype, device=g.device).index_add(
        0, centre, g).index_add(0, edge_index[1], -g)
    w = torch.zeros(num_graphs, 3, 3, dtype=g.dtype, device=g.device).index_add(
        0, batch.index_select(0, centre), vec.unsqueeze(2) * g.unsqueeze(1))
    return forces, -0.5 * (w + w.transpose(1, 2))[:, voigt_i, voigt_j]


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of ``model``'s first floating-point parameter or buffer (the default without)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def energy_forces_stress(model: nn.Module, graph, training: bool = False) -> Dict[str, Tensor]:
    """:class:`ForceStressOutput` of ``model`` (a Potential, or one under DDP) on a batched
    :class:`~mlip.data.graph.AtomicGraph`: ``energy`` [B], ``node_energy`` [N], ``forces`` [N, 3],
    ``virial`` and ``stress`` [B, 6] (ASE Voigt), and for a shallow ensemble ``head_node_dev`` and
    ``head_energy_dev``; forces and stress are those of the heads' mean. ``training=True`` keeps
    the graph (create_graph) so force and stress losses backpropagate to the parameters."""
    dtype = model_dtype(model)
    pos = graph.positions.to(dtype)
    i, j = graph.edge_index[0], graph.edge_index[1]
    edge_vec = pos.index_select(0, j) - pos.index_select(0, i) + graph.shifts.to(dtype)
    with torch.enable_grad():
        return ForceStressOutput(model)(graph.species, graph.edge_index, edge_vec, graph.batch, graph.num_graphs,
                                        graph.num_atoms, graph.cell.to(dtype), training)
