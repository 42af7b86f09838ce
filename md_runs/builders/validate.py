"""Validation of built structures: per-element-pair minimum distances, neutrality, density.

Every builder in :mod:`md_runs.builders` calls :func:`validate_structure` before returning, so a
structure that leaves a builder has no overlapping atoms and a declared total charge of zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, covalent_radii
from ase.neighborlist import neighbor_list

from mlip.errors import UserError

#: amu/Å^3 -> g/cm^3
AMU_PER_A3_TO_G_PER_CM3 = 1.66053907

#: Explicit thresholds (Å) that override the default 0.7 * (sum of covalent radii).
MIN_DISTANCE: dict[str, float] = {"H-H": 0.6, "C-H": 0.9, "Li-Li": 2.0}

#: Pairs closer than this are reported in :attr:`StructureReport.min_distances`.
REPORT_CUTOFF = 4.0


def pair_key(a: str, b: str) -> str:
    """Canonical 'A-B' key for an element pair (alphabetical, so 'H-C' and 'C-H' agree)."""
    return "-".join(sorted((a, b)))


def min_distance_threshold(a: str, b: str, overrides: dict[str, float] | None = None) -> float:
    table = {pair_key(*k.split("-")): v for k, v in {**MIN_DISTANCE, **(overrides or {})}.items()}
    key = pair_key(a, b)
    if key in table:
        return float(table[key])
    return 0.7 * float(covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]])


@dataclass
class StructureReport:
    """What a builder made: composition, size, density and the closest contact per element pair."""

    composition: dict[str, int]
    n_atoms: int
    volume: float  # Å^3 (0 for a structure without a cell)
    density: float  # g/cm^3 (0 for a structure without a cell)
    min_distances: dict[str, float] = field(default_factory=dict)  # 'A-B' -> Å, pairs within 4 Å
    charge: int = 0

    def summary(self) -> str:
        comp = " ".join(f"{k}{v}" for k, v in self.composition.items())
        return f"{comp} ({self.n_atoms} atoms, {self.volume:.1f} Å^3, {self.density:.3f} g/cm^3)"


def composition(atoms: Atoms) -> dict[str, int]:
    symbols = atoms.get_chemical_symbols()
    return {s: symbols.count(s) for s in sorted(set(symbols), key=lambda s: atomic_numbers[s])}


def density_g_cm3(atoms: Atoms) -> float:
    vol = atoms.get_volume() if atoms.cell.rank == 3 else 0.0
    return float(atoms.get_masses().sum() / vol * AMU_PER_A3_TO_G_PER_CM3) if vol > 0 else 0.0


def validate_structure(
    atoms: Atoms,
    min_distance: dict[str, float] | None = None,
    where: str = "structure",
    expected_charge: int = 0,
) -> StructureReport:
    """Check ``atoms`` and report on it; raise :class:`UserError` on the first problem.

    - every interatomic distance (minimum image / all periodic images for periodic cells) is at
      least the pair's threshold: ``min_distance`` ('A-B' -> Å) overrides :data:`MIN_DISTANCE`,
      which overrides 0.7 x the sum of covalent radii;
    - ``atoms.info['charge']`` (0 when absent) equals ``expected_charge`` (0: neutral);
    - a periodic structure has a cell of positive volume.
    """
    n = len(atoms)
    if n == 0:
        raise UserError("structure has no atoms", where)
    if not np.all(np.isfinite(atoms.positions)):
        raise UserError("structure has non-finite positions", where)
    if any(atoms.pbc) and atoms.cell.rank < 3:
        raise UserError("periodic structure without a full 3-D cell", where)
    charge = atoms.info.get("charge", 0)
    try:
        charge_ok = float(charge) == float(expected_charge)
    except (TypeError, ValueError):
        charge_ok = False
    if not charge_ok:
        raise UserError(f"total charge is {charge!r}, expected {expected_charge} (neutral cell)", where)

    symbols = np.array(atoms.get_chemical_symbols())
    elements = sorted(set(symbols))
    thresholds = {
        pair_key(a, b): min_distance_threshold(a, b, min_distance) for a in elements for b in elements
    }
    cutoff = max(REPORT_CUTOFF, max(thresholds.values()))
    probe = atoms
    if not any(atoms.pbc):
        probe = atoms.copy()
        probe.cell = np.zeros((3, 3))
    i, j, d = neighbor_list("ijd", probe, cutoff, self_interaction=False)
    mins: dict[str, float] = {}
    worst: tuple[float, int, int, float] | None = None  # (d - threshold, i, j, d)
    keys = np.array([pair_key(a, b) for a, b in zip(symbols[i], symbols[j])]) if len(i) else np.array([])
    for key in np.unique(keys):
        sel = keys == key
        k = int(np.argmin(d[sel]))
        dmin = float(d[sel][k])
        mins[str(key)] = round(dmin, 4)
        margin = dmin - thresholds[str(key)]
        if margin < 0 and (worst is None or margin < worst[0]):
            worst = (margin, int(i[sel][k]), int(j[sel][k]), dmin)
    if worst is not None:
        _, a, b, dmin = worst
        key = pair_key(symbols[a], symbols[b])
        raise UserError(
            f"atoms {min(a, b)} ({symbols[min(a, b)]}) and {max(a, b)} ({symbols[max(a, b)]}) are "
            f"{dmin:.3f} Å apart, below the {key} threshold {thresholds[key]:.2f} Å",
            where,
        )
    vol = float(atoms.get_volume()) if atoms.cell.rank == 3 else 0.0
    return StructureReport(
        composition=composition(atoms),
        n_atoms=n,
        volume=vol,
        density=density_g_cm3(atoms),
        min_distances=dict(sorted(mins.items())),
        charge=int(float(charge)),
    )


def finish(atoms: Atoms, where: str, charge: int = 0) -> Atoms:
    """Set pbc/charge conventions, validate, and return ``atoms`` (the builders' last step).

    A structure that carries ``info['min_distance_overrides']`` (e.g. an unrelaxed point defect)
    is checked against those thresholds, here and in every later step."""
    atoms.info["charge"] = charge
    validate_structure(atoms, min_distance=atoms.info.get("min_distance_overrides"), where=where,
                       expected_charge=charge)
    return atoms
