"""ASE calculator for a seimlip model: a deployed file, a checkpoint, a shipped name or a Potential.

Results: ``energy``, ``free_energy`` (= energy), ``forces``, ``energies`` (per atom, E0s
included) and, for 3D-periodic cells, ``stress`` (ASE Voigt order, eV/Å^3, positive = tensile).
A committee file adds ``energy_std``, ``force_dev`` (per atom) and ``max_force_dev``. A shallow
ensemble (``readout_heads`` > 1) adds ``head_energies``, ``head_energy_std``, ``atom_energy_std``
(per atom) and ``max_atom_energy_std``; a single shallow-ensemble model also sets ``energy_std``
(= ``head_energy_std``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from torch import nn

from mlip.deploy.exporter import build_deployed
from mlip.deploy.format import readout_heads
from mlip.errors import UserError
from mlip.model.io import load_deployed, model_kind, resolve_model_path
from mlip.model.output import LAMMPS_ORDER


def resolve_model(model: Any, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(deployed module, metadata) for a deployed file (TorchScript or torch.export), a checkpoint, a shipped name, a
    Potential, or a list of checkpoints/Potentials (an in-memory committee)."""
    if isinstance(model, (list, tuple)) or isinstance(model, nn.Module):
        module, metadata = build_deployed(list(model) if isinstance(model, (list, tuple)) else model)
        return module.to(device), metadata
    path = resolve_model_path(model)
    if path.is_file() and model_kind(path) == "checkpoint":
        module, metadata = build_deployed(path)  # a training checkpoint: script it in memory
        return module.to(device), metadata
    return load_deployed(path, device)


def _pick_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _neighbour_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float):
    from vesin import NeighborList

    if not pbc.any():
        cell = np.zeros((3, 3))
    elif abs(np.linalg.det(cell)) < 1e-12:
        raise UserError("a periodic direction needs a cell with non-zero volume")
    i, j, shifts = NeighborList(cutoff=cutoff, full_list=True).compute(
        points=positions, box=cell, periodic=[bool(p) for p in pbc], quantities="ijS")
    return i.astype(np.int64), j.astype(np.int64), shifts


class SeimlipCalculator(Calculator):
    """ASE calculator running a seimlip model (one potential or a committee)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies",
                              "energy_std", "force_dev", "max_force_dev", "head_energies",
                              "head_energy_std", "atom_energy_std", "max_atom_energy_std"]

    def __init__(self, model: Any, device: str | torch.device = "auto", **kwargs):
        super().__init__(**kwargs)
        self.device = _pick_device(device)
        self.module, self.metadata = resolve_model(model, self.device)
        self.species = list(self.metadata["species"])
        self.cutoff = float(self.metadata["cutoff"])
        self.dtype = torch.float64 if self.metadata["dtype"] == "float64" else torch.float32
        self.n_members = int(self.metadata["n_members"])
        self.n_heads = readout_heads(self.metadata)
        self._index = {s: k for k, s in enumerate(self.species)}

    def _species_indices(self, symbols: list[str]) -> np.ndarray:
        try:
            return np.array([self._index[s] for s in symbols], dtype=np.int64)
        except KeyError as exc:
            raise UserError(f"element {exc.args[0]} is not in the model's species "
                            f"({' '.join(self.species)})") from None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        positions = atoms.get_positions()
        cell = atoms.cell.array
        pbc = np.asarray(atoms.pbc, dtype=bool)
        i, j, shifts = _neighbour_list(positions, cell, pbc, self.cutoff)
        edge_vec = positions[j] - positions[i] + shifts @ cell
        species = self._species_indices(atoms.get_chemical_symbols())
        n = len(atoms)

        dev, dt = self.device, self.dtype
        # the profiling executor re-optimises for every new edge count (seconds each); the plain
        # interpreter is as fast at steady state (the LAMMPS plugin makes the same choice)
        with torch.jit.optimized_execution(False):
            out = self.module(
                torch.as_tensor(species, device=dev),
                torch.as_tensor(np.stack([i, j]), device=dev),
                torch.as_tensor(edge_vec, dtype=dt, device=dev),
                n,
            )
        energy = float(out["energy"].item())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out["forces"].detach().double().cpu().numpy()
        self.results["energies"] = out["node_energy"].detach().double().cpu().numpy()
        if pbc.all():
            v = out["virial"].detach().double().cpu().numpy()  # LAMMPS order: back to ASE Voigt
            self.results["stress"] = -v[list(LAMMPS_ORDER)] / atoms.get_volume()
        if self.n_members > 1:
            self.results["energy_std"] = float(out["energy_std"].item())
            self.results["force_dev"] = out["force_dev"].detach().double().cpu().numpy()
            self.results["max_force_dev"] = float(out["max_force_dev"].item())
        if "head_energy_std" in out:
            self.results["head_energies"] = out["head_energies"].detach().double().cpu().numpy()
            self.results["head_energy_std"] = float(out["head_energy_std"].item())
            self.results["atom_energy_std"] = out["atom_energy_std"].detach().double().cpu().numpy()
            self.results["max_atom_energy_std"] = float(out["max_atom_energy_std"].item())
            if self.n_members == 1:
                self.results["energy_std"] = self.results["head_energy_std"]
