"""The ``torch.export`` deployment: the deployed module as an ``ExportedProgram`` file (``.pt2``).

``seimlip deploy --format export`` writes the same :class:`~mlip.deploy.module.DeployedPotential`
(one model or a committee, forces and virial from :class:`~mlip.model.output.ForceStressOutput`)
with the same ``seimlip.json`` metadata as the TorchScript file (``module_format: export``), for
the ASE calculator and any Python host; ``torch.jit.script`` is deprecated in torch 2.13, and
this is the path that replaces it. LAMMPS keeps loading TorchScript (its plugin links libtorch's
TorchScript runtime).

How it traces (as ``nequip-compile`` does): ``make_fx`` in symbolic mode first records the
forward *and* the ``autograd.grad`` inside it as plain aten ops (``torch.export`` alone cannot
trace through the autograd engine: it leaves a fake tensor behind), then ``torch.export`` turns
that graph into a program with dynamic atom and edge counts. The neighbour padding of
:mod:`mlip.nn.grouping` is data-dependent (each group is padded to its largest neighbour count);
the members are exported with one padding group (``n_groups = 1``, no size limit), whose width
is an unbacked size the program computes at run time, so no shape guard depends on the data.
"""

from __future__ import annotations

import json
import os
from typing import List

import numpy as np
import torch
from torch import nn
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx

from mlip.deploy.format import METADATA_FILE
from mlip.deploy.module import DeployedPotential
from mlip.errors import UserError, first_line

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def example_inputs(n_species: int, cutoff: float, dtype: torch.dtype, n_atoms: int = 8, seed: int = 0):
    """(species, edge_index, edge_vec, n_local) of a small random cluster: every pair of atoms
    closer than ``cutoff`` is an edge, both ways; all sizes differ (atoms, local atoms, edges)."""
    rng = np.random.default_rng(seed)
    pos = rng.random((n_atoms, 3)) * 0.6 * cutoff
    d = pos[None, :, :] - pos[:, None, :]
    i, j = np.nonzero((np.linalg.norm(d, axis=2) < cutoff) & ~np.eye(n_atoms, dtype=bool))
    species = torch.arange(n_atoms, dtype=torch.int64) % n_species
    # n_local < n_atoms: equal example sizes would be traced as one symbol (duck sizing), and the
    # program would then take the atom count for n_local
    return species, torch.tensor(np.stack([i, j])), torch.tensor(d[i, j], dtype=dtype), n_atoms - 1


def _exportable(member: nn.Module) -> nn.Module:
    if hasattr(member, "n_groups"):  # one padding group of any size: no branch on data-dependent sizes
        member.n_groups, member.group_size = 1, 0
    return member


def export_program(members: List[nn.Module], metadata: dict) -> torch.export.ExportedProgram:
    """The ExportedProgram of ``DeployedPotential(members)`` (eval-mode copies, cast already)."""
    wrapper = DeployedPotential([_exportable(m) for m in members]).eval()
    args = example_inputs(len(metadata["species"]), float(metadata["cutoff"]), _DTYPES[metadata["dtype"]])
    atoms, edges, n_local = Dim("atoms", min=0), Dim("edges", min=0), Dim.DYNAMIC
    try:
        # size-oblivious tracing: sizes 0 and 1 (one atom, no edges) stay inside the program's range
        with torch.fx.experimental._config.patch(backed_size_oblivious=True):
            graph = make_fx(wrapper, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*args)
            return torch.export.export(graph, args, dynamic_shapes=({0: atoms}, {1: edges}, {0: edges}, n_local),
                                       strict=False)
    except Exception as exc:  # noqa: BLE001 - tracing errors are long; the first line says what failed
        raise UserError(f"the model cannot be exported with torch.export: {first_line(exc, 300)}") from exc


def save_program(program: torch.export.ExportedProgram, path: str | os.PathLike, metadata: dict) -> None:
    """Write the program with its metadata; :func:`mlip.model.io.load_deployed` reads it back."""
    torch.export.save(program, path, extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
