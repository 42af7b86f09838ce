"""The deployed module with its layers exposed, for LAMMPS' per-layer halo exchange.

On several MPI ranks the plugin (``pair_style seimlip ... graph halo``) gives each rank's model
only its owned atoms as edge centres and the ghost atoms within one cutoff as neighbours, and
runs each member's layers one at a time: after every interaction block it copies the owned
atoms' new features to their ghost copies on the other ranks (LAMMPS forward communication), so
the ghost shell is one cutoff deep whatever the number of layers. The backward pass goes layer
by layer in reverse, the ghost rows of each layer's input-feature gradient summed onto their
owners (reverse communication) before they enter the previous layer; the edge-vector gradients
of all layers (and ZBL) give forces and virial through the one derivative formula,
:func:`mlip.model.output.edge_forces_virial`. The committee and head statistics are those of
:meth:`DeployedPotential.combine`. See ``mlip/deploy/csrc/seimlip_model.cpp`` for the driver.

Methods (TorchScript-exported; ``m`` is the committee member, ``t`` the layer):

- ``halo_prepare(m, species, edge_index, edge_vec, n_centre) -> (r, feats, senders, position)``
- ``halo_embed(m, species) -> h0 [1, N, C]``
- ``halo_layer(m, t, h, species, feats, senders, position) -> (h [D, N_c, C], energies [N_c, K])``
- ``halo_energy(m, species, energies, edge_index, edge_vec) -> {energy, node_energy, ...}``
- ``halo_forces(edge_index, edge_vec, g, n_atoms) -> (forces [N, 3], virial [1, 6] ASE order)``

Attributes: ``member_layers`` (interaction blocks of each member) and ``halo_width`` (the widest
feature row exchanged between layers, floats per atom).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from mlip.deploy.module import DeployedPotential
from mlip.model.output import VOIGT_I, VOIGT_J, edge_forces_virial, energy_outputs


def is_layered(model: nn.Module) -> bool:
    """True for a model that runs layer by layer (a :class:`mlip.model.Potential`)."""
    return all(hasattr(model, name) for name in ("prepare", "embed", "layer", "readout", "blocks", "config"))


def _width(model: nn.Module) -> int:
    config = model.config
    return (int(config.l_max) + 1) ** 2 * int(config.channels)


class LayeredDeployedPotential(DeployedPotential):
    """:class:`DeployedPotential` whose members are layered potentials, plus the halo methods."""

    def __init__(self, members: List[nn.Module]):
        super().__init__(members)
        if not all(is_layered(m) for m in members):
            raise ValueError("every member must be a layered potential (prepare/embed/layer/readout)")
        self.member_layers = [len(m.blocks) for m in members]
        self.halo_width = max(_width(m) for m in members)
        self.halo_voigt_i, self.halo_voigt_j = list(VOIGT_I), list(VOIGT_J)

    @torch.jit.export
    def halo_prepare(self, m: int, species: Tensor, edge_index: Tensor, edge_vec: Tensor,
                     n_centre: int) -> Tuple[Tensor, List[Tensor], List[Tensor], Tensor]:
        out: Optional[Tuple[Tensor, List[Tensor], List[Tensor], Tensor]] = None
        for k, member in enumerate(self.members):
            if k == m:
                out = member.model.prepare(species, edge_index, edge_vec, n_centre)
        if out is None:
            raise IndexError("no such committee member")
        return out

    @torch.jit.export
    def halo_embed(self, m: int, species: Tensor) -> Tensor:
        out: Optional[Tensor] = None
        for k, member in enumerate(self.members):
            if k == m:
                out = member.model.embed(species)
        if out is None:
            raise IndexError("no such committee member")
        return out

    @torch.jit.export
    def halo_layer(self, m: int, t: int, h: Tensor, species: Tensor, feats: List[Tensor], senders: List[Tensor],
                   position: Tensor) -> Tuple[Tensor, Tensor]:
        out: Optional[Tuple[Tensor, Tensor]] = None
        for k, member in enumerate(self.members):
            if k == m:
                out = member.model.layer(t, h, species, feats, senders, position)
        if out is None:
            raise IndexError("no such committee member")
        return out

    @torch.jit.export
    def halo_energy(self, m: int, species: Tensor, energies: List[Tensor], edge_index: Tensor,
                    edge_vec: Tensor) -> Dict[str, Tensor]:
        """Member ``m``'s :func:`~mlip.model.output.energy_outputs` of the centre atoms from its
        layers' energies (``edge_vec``: for the ZBL repulsion)."""
        r = torch.linalg.vector_norm(edge_vec, dim=1)
        heads: Optional[Tensor] = None
        for k, member in enumerate(self.members):
            if k == m:
                heads = member.model.readout(species, energies, edge_index, r)
        if heads is None:
            raise IndexError("no such committee member")
        n_c = heads.shape[0]
        return energy_outputs(heads, torch.zeros(n_c, dtype=torch.int64, device=heads.device), 1, n_c)

    @torch.jit.export
    def halo_forces(self, edge_index: Tensor, edge_vec: Tensor, g: Tensor, n_atoms: int) -> Tuple[Tensor, Tensor]:
        batch = torch.zeros(n_atoms, dtype=torch.int64, device=g.device)
        return edge_forces_virial(edge_index, edge_vec, g, batch, 1, n_atoms, self.halo_voigt_i, self.halo_voigt_j)
