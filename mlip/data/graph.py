"""Atomic graphs: what the model eats. One ``AtomicGraph`` holds a batch of B structures.

Edges are directed: ``edge_index[0]`` is the centre ``i`` (receiver), ``edge_index[1]`` the
neighbour ``j`` (sender), and ``edge_vec = positions[j] - positions[i] + shifts`` with ``shifts``
the cartesian periodic image offset. Open (non-periodic) structures have a zero cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from mlip.data.neighbors import neighbor_list
from mlip.errors import UserError

_FLOAT_FIELDS = ("positions", "cell", "shifts", "energy", "forces", "stress", "label_weights")

#: per-frame label weights in ``atoms.info`` (MACE's keys): 0 keeps a label out of the loss, e.g.
#: the energy and stress of a cell below its family's converged size (datasets/*/README.md)
WEIGHT_KEYS = ("config_energy_weight", "config_forces_weight", "config_stress_weight")


@dataclass
class AtomicGraph:
    """A batch of B structures with N atoms and E directed edges (see module doc)."""

    positions: Tensor  # [N,3]
    species: Tensor  # [N] int64, index into the model's species list
    cell: Tensor  # [B,3,3], zeros for non-periodic
    edge_index: Tensor  # [2,E] int64: row 0 centre i (receiver), row 1 neighbour j (sender)
    shifts: Tensor  # [E,3] cartesian: edge_vec = pos[j] - pos[i] + shifts
    batch: Tensor  # [N] int64: which structure each atom belongs to
    n_atoms: Tensor  # [B] int64
    energy: Tensor | None = None  # [B] eV
    forces: Tensor | None = None  # [N,3] eV/Å
    stress: Tensor | None = None  # [B,6] Voigt, ASE sign, eV/Å^3; NaN rows where a frame has none
    config_type: list[str] = field(default_factory=list)
    label_weights: Tensor | None = None  # [B,3] energy, forces, stress weight per frame; None: all 1

    def weights(self, kind: int) -> Tensor:
        """Per-frame weight [B] of label ``kind`` (0 energy, 1 forces, 2 stress)."""
        if self.label_weights is None:
            return torch.ones(self.num_graphs, dtype=self.positions.dtype, device=self.positions.device)
        return self.label_weights[:, kind]

    @property
    def num_graphs(self) -> int:
        return int(self.n_atoms.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def edge_vectors(self) -> Tensor:
        """``pos[j] - pos[i] + shifts`` for every edge."""
        i, j = self.edge_index[0], self.edge_index[1]
        return self.positions[j] - self.positions[i] + self.shifts

    def to(self, device=None, dtype=None) -> "AtomicGraph":
        """Move every tensor to ``device``; cast float tensors (not the integer ones) to ``dtype``."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, Tensor):
                continue
            if f.name in _FLOAT_FIELDS and dtype is not None:
                changes[f.name] = value.to(device=device, dtype=dtype)
            else:
                changes[f.name] = value.to(device=device)
        return replace(self, **changes)

    def __len__(self) -> int:
        return self.num_graphs


def species_indices(symbols: Sequence[str], species: Sequence[str]) -> np.ndarray:
    """Index of each element symbol in ``species``; UserError naming any element not there."""
    lookup = {s: k for k, s in enumerate(species)}
    missing = sorted(set(symbols) - lookup.keys())
    if missing:
        raise UserError(
            f"element(s) {', '.join(missing)} not in the model's species ({', '.join(species)})"
        )
    return np.fromiter((lookup[s] for s in symbols), dtype=np.int64, count=len(symbols))


def _labels(atoms):
    """(energy, forces, stress) from the fixed keys, falling back to an attached calculator."""
    results = getattr(atoms.calc, "results", None) or {}
    energy = atoms.info.get("energy", results.get("energy"))
    forces = atoms.arrays.get("forces", results.get("forces"))
    stress = atoms.info.get("stress", results.get("stress"))
    if stress is not None:
        stress = np.asarray(stress, dtype=np.float64)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        stress = stress.reshape(6)
    return energy, forces, stress


def label_weights(atoms) -> np.ndarray | None:
    """(energy, forces, stress) weights from ``info`` (WEIGHT_KEYS), or None when none is set."""
    if not any(k in atoms.info for k in WEIGHT_KEYS):
        return None
    w = np.array([float(atoms.info.get(k, 1.0)) for k in WEIGHT_KEYS])
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise UserError(f"label weights must be finite and >= 0, got {dict(zip(WEIGHT_KEYS, w.tolist()))}")
    return w


def atoms_to_graph(atoms, species: Sequence[str], cutoff: float) -> AtomicGraph:
    """One ``ase.Atoms`` (labels in ``info``/``arrays``, see mlip.data.readers) as a 1-structure graph.

    Positions, cell and labels are float64 here; cast with ``graph.to(dtype=...)``.
    """
    symbols = atoms.get_chemical_symbols()
    z = species_indices(symbols, species)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    cell = np.where(pbc[:, None], cell, 0.0)
    i, j, shifts_int = neighbor_list(positions, cell, pbc, cutoff)
    shifts = shifts_int.astype(np.float64) @ cell
    energy, forces, stress = _labels(atoms)
    weights = label_weights(atoms)
    n = len(atoms)
    return AtomicGraph(
        positions=torch.from_numpy(positions.copy()),
        species=torch.from_numpy(z),
        cell=torch.from_numpy(cell.copy()).unsqueeze(0),
        edge_index=torch.from_numpy(np.stack([i, j])),
        shifts=torch.from_numpy(shifts),
        batch=torch.zeros(n, dtype=torch.int64),
        n_atoms=torch.tensor([n], dtype=torch.int64),
        energy=None if energy is None else torch.tensor([float(energy)], dtype=torch.float64),
        forces=None if forces is None else torch.as_tensor(np.asarray(forces, dtype=np.float64)).reshape(n, 3).clone(),
        stress=None if stress is None else torch.from_numpy(stress.copy()).unsqueeze(0),
        config_type=[str(atoms.info.get("config_type", "default"))],
        label_weights=None if weights is None else torch.from_numpy(weights).unsqueeze(0),
    )


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Concatenate graphs into one batch (node indices offset; labels kept when every graph has them,
    except stress, which is NaN-filled for graphs without it)."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("collate needs at least one graph")
    if len(graphs) == 1:
        return graphs[0]
    ref = graphs[0].positions
    offsets = torch.cumsum(torch.tensor([0] + [g.num_atoms for g in graphs[:-1]]), 0)
    n_atoms = torch.cat([g.n_atoms for g in graphs])
    batch_offsets = torch.cumsum(torch.tensor([0] + [g.num_graphs for g in graphs[:-1]]), 0)

    def cat_or_none(name):
        values = [getattr(g, name) for g in graphs]
        return None if any(v is None for v in values) else torch.cat(values)

    stress = None
    if any(g.stress is not None for g in graphs):
        rows = []
        for g in graphs:
            if g.stress is not None:
                rows.append(g.stress.to(ref.dtype))
            else:
                rows.append(torch.full((g.num_graphs, 6), float("nan"), dtype=ref.dtype, device=ref.device))
        stress = torch.cat(rows)
    label_weights = None
    if any(g.label_weights is not None for g in graphs):
        label_weights = torch.cat([g.label_weights.to(ref.dtype) if g.label_weights is not None
                                   else torch.ones((g.num_graphs, 3), dtype=ref.dtype, device=ref.device) for g in graphs])
    return AtomicGraph(
        positions=torch.cat([g.positions for g in graphs]),
        species=torch.cat([g.species for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], dim=1),
        shifts=torch.cat([g.shifts for g in graphs]),
        batch=torch.cat([g.batch + int(o) for g, o in zip(graphs, batch_offsets)]),
        n_atoms=n_atoms,
        energy=cat_or_none("energy"),
        forces=cat_or_none("forces"),
        stress=stress,
        config_type=[c for g in graphs for c in g.config_type],
        label_weights=label_weights,
    )


class GraphDataset(torch.utils.data.Dataset):
    """Frames converted once to ``AtomicGraph``s (neighbour lists precomputed).

    ``dtype`` casts the float tensors (default: keep float64). Use ``collate`` as the DataLoader's
    ``collate_fn``.
    """

    def __init__(self, frames, species: Sequence[str], cutoff: float, dtype: torch.dtype | None = None):
        self.species = list(species)
        self.cutoff = float(cutoff)
        self.graphs = []
        for atoms in frames:
            graph = atoms_to_graph(atoms, self.species, self.cutoff)
            self.graphs.append(graph.to(dtype=dtype) if dtype is not None else graph)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> AtomicGraph:
        return self.graphs[index]


__all__ = ["AtomicGraph", "GraphDataset", "atoms_to_graph", "collate", "species_indices"]
