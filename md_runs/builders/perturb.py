"""Perturbations used for sampling: rattling, random strain and random volume. Inputs are never modified."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from mlip.errors import UserError
from md_runs.builders.validate import finish


RATTLE_TRIES = 20


def rattle(atoms: Atoms, stdev: float = 0.05, seed: int = 0) -> Atoms:
    """A copy with every Cartesian coordinate displaced by N(0, ``stdev``) Å.

    A draw that pushes a pair below its minimum distance (validate_structure) is redrawn from the
    same seeded generator, up to 20 times, so rattled structures are always valid.
    """
    if stdev < 0:
        raise UserError(f"stdev must be >= 0, got {stdev}", "stdev")
    rng = np.random.default_rng(seed)
    charge = int(atoms.info.get("charge", 0))
    for attempt in range(RATTLE_TRIES):
        out = atoms.copy()
        out.positions = out.positions + rng.normal(0.0, float(stdev), size=out.positions.shape)
        out.info["rattle"] = float(stdev)
        try:
            return finish(out, "rattle", charge=charge)
        except UserError:
            if attempt == RATTLE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def random_strain_matrix(max_strain: float, seed: int = 0) -> np.ndarray:
    """Symmetric strain tensor with components uniform in [-max_strain, max_strain]."""
    rng = np.random.default_rng(seed)
    eps = rng.uniform(-max_strain, max_strain, size=(3, 3))
    return (eps + eps.T) / 2


def strain(atoms: Atoms, max_strain: float = 0.03, seed: int = 0) -> Atoms:
    """A copy under a random symmetric strain; atoms move with the cell (fractional coords kept)."""
    if not 0 <= max_strain < 0.5:
        raise UserError(f"max_strain must be in [0, 0.5), got {max_strain}", "max_strain")
    if atoms.cell.rank < 3:
        raise UserError("strain needs a structure with a 3-D cell", "strain")
    out = atoms.copy()
    eps = random_strain_matrix(float(max_strain), seed)
    out.set_cell(np.array(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    out.info["strain"] = eps.round(6).tolist()
    return finish(out, "strain", charge=int(atoms.info.get("charge", 0)))


def scale_volume(atoms: Atoms, ratio: tuple[float, float], seed: int = 0) -> Atoms:
    """A copy scaled isotropically to a random volume: V / V_in uniform in ``ratio`` = (lo, hi).

    Atoms move with the cell (fractional coordinates kept). This is how a plan samples an
    equation of state far from the built cell: the built SEI crystals have experimental lattice
    constants, and the reference method's minimum may lie 10 % or more away from them.
    """
    lo, hi = (float(r) for r in ratio)
    if not 0.3 <= lo <= hi <= 3.0:
        raise UserError(f"volume ratio range must satisfy 0.3 <= lo <= hi <= 3, got [{lo}, {hi}]", "volume")
    if atoms.cell.rank < 3:
        raise UserError("volume needs a structure with a 3-D cell", "volume")
    v = float(np.random.default_rng([int(seed), 3]).uniform(lo, hi))  # a stream of its own: not strain's draw
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) * v ** (1.0 / 3.0), scale_atoms=True)
    out.info["volume_ratio"] = round(v, 6)
    return finish(out, "volume", charge=int(atoms.info.get("charge", 0)))
