"""Energy, forces and stress of a batch from one autograd pass through the edge vectors."""

from __future__ import annotations

import torch
from torch import Tensor

from mlip.data.graph import AtomicGraph

_VOIGT_I = (0, 1, 2, 1, 0, 0)
_VOIGT_J = (0, 1, 2, 2, 2, 1)


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        return p.dtype
    return torch.get_default_dtype()


def _head_count(model) -> int:
    """Readout heads of ``model`` (a Potential); UserError for a shallow ensemble under DDP."""
    heads = int(getattr(model, "n_heads", 1))
    inner = getattr(model, "module", None)
    if inner is not None and int(getattr(inner, "n_heads", 1)) > 1:
        from mlip.errors import UserError

        raise UserError("readout_heads > 1 trains in one process for now (not under DDP): use --nproc 1",
                        "model.readout_heads")
    return heads


def energy_forces_stress(model, graph: AtomicGraph, training: bool = False) -> dict[str, Tensor]:
    """``energy`` [B], ``node_energy`` [N], ``forces`` [N,3], ``stress`` [B,6] (ASE sign, eV/Å^3,
    Voigt xx,yy,zz,yz,xz,xy; zero for cells of zero volume); for a shallow ensemble
    (``readout_heads`` K > 1) also ``head_node_dev`` [N, K], each head's per-atom energy minus
    their mean, and ``head_energy_dev`` [B, K], its sum per frame (no cancellation of large
    totals); forces and stress are those of the mean.

    With g_e = dE/d(edge_vec_e): F_i = sum_{e: i centre} g_e - sum_{e: i neighbour} g_e, and
    stress = (1/V) sum_e sym(edge_vec_e ⊗ g_e) (the strain derivative, as every edge vector
    scales with the cell). ``training=True`` keeps the graph (create_graph) so force and stress
    losses backpropagate to the parameters; otherwise the outputs are detached.
    """
    dtype = _model_dtype(model)
    i, j = graph.edge_index[0], graph.edge_index[1]
    n, b = graph.num_atoms, graph.num_graphs
    with torch.enable_grad():
        pos = graph.positions.to(dtype)
        edge_vec = (pos.index_select(0, j) - pos.index_select(0, i) + graph.shifts.to(dtype)).detach()
        edge_vec.requires_grad_(True)
        head_energy = head_node_dev = None
        if _head_count(model) > 1:
            heads = model.head_node_energies(graph.species, graph.edge_index, edge_vec)  # [N, K]
            node_energy = heads.mean(1)
            head_node_dev = heads - node_energy.unsqueeze(1)
            head_energy = torch.zeros(b, heads.shape[1], dtype=heads.dtype, device=heads.device).index_add(
                0, graph.batch, head_node_dev)
        else:
            node_energy = model(graph.species, graph.edge_index, edge_vec)
        energy = torch.zeros(b, dtype=node_energy.dtype, device=node_energy.device).index_add(0, graph.batch, node_energy)
        (grad,) = torch.autograd.grad(
            [energy.sum()], [edge_vec], create_graph=training, retain_graph=training, allow_unused=True
        )
    if grad is None:  # no edges
        grad = torch.zeros_like(edge_vec)
    forces = torch.zeros(n, 3, dtype=dtype, device=grad.device).index_add(0, i, grad).index_add(0, j, -grad)
    edge_graph = graph.batch.index_select(0, i)
    virial = torch.zeros(b, 3, 3, dtype=dtype, device=grad.device).index_add(
        0, edge_graph, edge_vec.unsqueeze(2) * grad.unsqueeze(1)
    )
    virial = 0.5 * (virial + virial.transpose(1, 2))
    volume = torch.linalg.det(graph.cell.to(dtype)).abs()
    has_volume = volume > 1e-8
    inv_volume = torch.where(has_volume, 1.0 / torch.where(has_volume, volume, torch.ones_like(volume)), torch.zeros_like(volume))
    stress = (virial * inv_volume.view(-1, 1, 1))[:, list(_VOIGT_I), list(_VOIGT_J)]
    out = {"energy": energy, "node_energy": node_energy, "forces": forces, "stress": stress}
    if head_energy is not None:
        out["head_energy_dev"] = head_energy
        out["head_node_dev"] = head_node_dev
    if not training:
        out = {k: v.detach() for k, v in out.items()}
    return out
