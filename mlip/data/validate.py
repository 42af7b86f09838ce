"""Check labelled frames before anything trains on them: one clear message per problem, naming
the file and frame it was found in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from mlip.data.keys import label_key_hint
from mlip.data.readers import frame_label
from mlip.errors import UserError

MIN_DISTANCE = 0.5  # Å; closer pairs are unphysical for every element we model
MAX_FORCE = 100.0  # eV/Å; larger forces are almost always a unit mistake (e.g. kcal/mol/Å, Ha/bohr*1000)
MAX_STRESS = 5.0  # eV/Å^3 (~800 GPa); larger means kbar/GPa were written as eV/Å^3
MAX_ENERGY_PER_ATOM = 1.0e4  # eV/atom; larger means meV or J/mol were written as eV


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x, dtype=float))))


def frame_problems(atoms: Atoms, species: Sequence[str] | None = None, require_labels: bool = True,
                   check_distances: bool = True) -> list[str]:
    """Every problem found in one frame, each a short phrase (empty when the frame is fine).
    ``check_distances=False`` leaves out the closest-pair check (malformed input only)."""
    problems: list[str] = []
    n = len(atoms)
    if n == 0:
        return ["frame has no atoms"]
    pos = atoms.positions
    if not _finite(pos):
        return ["positions contain NaN or inf"]
    if species is not None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - set(species))
        if unknown:
            problems.append(f"element(s) {', '.join(unknown)} outside the model's species {list(species)}")
    cell = atoms.cell.array
    if not _finite(cell):
        problems.append("cell contains NaN or inf")
    elif any(atoms.pbc):
        lengths = np.linalg.norm(cell, axis=1)
        if any(p and length < 1e-6 for p, length in zip(atoms.pbc, lengths)):
            problems.append("periodic frame without a cell (a periodic direction has a zero cell vector)")
        elif all(atoms.pbc) and abs(np.linalg.det(cell)) < 1e-6:
            problems.append("periodic cell has zero volume")
    if check_distances and not problems and n > 1:
        dmin, pair = _min_distance(atoms)
        if dmin < MIN_DISTANCE:
            i, j = pair
            problems.append(f"atoms {i} and {j} are {dmin:.3f} Å apart (< {MIN_DISTANCE} Å)")
    energy = atoms.info.get("energy")
    if energy is None:
        if require_labels:
            problems.append("missing energy label (info['energy'])" + label_key_hint(atoms, "energy"))
    elif isinstance(energy, bool) or not isinstance(energy, (int, float, np.floating, np.integer)):
        problems.append(f"energy label {energy!r} is not a number")
    elif not _finite(energy):
        problems.append("energy is NaN or inf")
    elif abs(float(energy)) / n > MAX_ENERGY_PER_ATOM:
        problems.append(f"energy {float(energy):.3g} eV is {abs(float(energy)) / n:.3g} eV/atom: wrong units?")
    forces = atoms.arrays.get("forces")
    if forces is None:
        if require_labels:
            problems.append("missing forces label (arrays['forces'])" + label_key_hint(atoms, "forces"))
    else:
        forces = np.asarray(forces)
        if forces.shape != (n, 3):
            problems.append(f"forces have shape {forces.shape}, expected ({n}, 3)")
        elif not _finite(forces):
            problems.append("forces contain NaN or inf")
        elif np.abs(forces).max() > MAX_FORCE:
            problems.append(f"max |force| {np.abs(forces).max():.3g} eV/Å > {MAX_FORCE}: wrong units or broken geometry?")
    stress = atoms.info.get("stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=float) if np.size(stress) else np.zeros(0)
        if stress.shape not in ((6,), (3, 3)):
            problems.append(f"stress has shape {stress.shape}, expected (6,) Voigt or (3, 3)")
        elif not _finite(stress):
            problems.append("stress contains NaN or inf")
        elif not all(atoms.pbc):
            problems.append("stress given for a frame that is not periodic in all directions")
        elif np.abs(stress).max() > MAX_STRESS:
            problems.append(f"max |stress| {np.abs(stress).max():.3g} eV/Å^3 > {MAX_STRESS}: given in GPa or kbar?")
    return problems


def _min_distance(atoms: Atoms) -> tuple[float, tuple[int, int]]:
    from vesin import NeighborList

    cutoff = MIN_DISTANCE * 1.01
    if any(atoms.pbc) and abs(atoms.cell.volume) > 1e-6:
        box, periodic = atoms.cell.array, [bool(p) for p in atoms.pbc]
    else:
        box, periodic = np.zeros((3, 3)), False
    i, j, d = NeighborList(cutoff=cutoff, full_list=False).compute(
        points=atoms.positions, box=box, periodic=periodic, quantities="ijd"
    )
    if len(d) == 0:
        return float("inf"), (-1, -1)
    k = int(np.argmin(d))
    return float(d[k]), (int(i[k]), int(j[k]))


def check_frames(
    frames: Sequence[Atoms], species: Sequence[str] | None = None, require_labels: bool = True
) -> list[str]:
    """All problems of all frames, each as ``file#frame: problem``."""
    found = []
    for atoms in frames:
        found.extend(f"{frame_label(atoms)}: {p}" for p in frame_problems(atoms, species, require_labels))
    return found


def validate_frames(
    frames: Sequence[Atoms], species: Sequence[str] | None = None, require_labels: bool = True
) -> None:
    """Raise a one-line UserError for the first problem (with the count of the others)."""
    found = check_frames(frames, species, require_labels)
    if found:
        more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
        raise UserError(found[0] + more)
