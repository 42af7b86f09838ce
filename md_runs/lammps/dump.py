"""Read LAMMPS text dumps (``dump custom``) back as ASE frames."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from md_runs.lammps.data import LammpsBox, box_from_bounds
from mlip.errors import UserError


def _frame(lines: list[str], start: int, path: str) -> tuple[dict, int]:
    """Parse one frame starting at ``ITEM: TIMESTEP``; return (frame dict, next line index)."""
    i = start
    frame: dict = {}
    while i < len(lines):
        line = lines[i]
        if line.startswith("ITEM: TIMESTEP"):
            if "timestep" in frame:
                break
            frame["timestep"] = int(lines[i + 1].split()[0])
            i += 2
        elif line.startswith("ITEM: NUMBER OF ATOMS"):
            frame["n"] = int(lines[i + 1])
            i += 2
        elif line.startswith("ITEM: BOX BOUNDS"):
            words = line.split()[3:]
            triclinic = words[:3] == ["xy", "xz", "yz"]
            flags = words[3:] if triclinic else words
            rows = np.array([[float(v) for v in lines[i + 1 + d].split()] for d in range(3)])
            frame["bounds"] = rows[:, :2]
            frame["tilt"] = rows[:, 2] if triclinic else None
            frame["boundary"] = " ".join("p" if f == "pp" else "s" for f in flags) if flags else "p p p"
            i += 4
        elif line.startswith("ITEM: ATOMS"):
            columns = line.split()[2:]
            n = frame.get("n")
            if n is None:
                raise UserError("dump frame without NUMBER OF ATOMS", path)
            block = lines[i + 1:i + 1 + n]
            if len(block) < n:
                raise UserError("dump ends inside a frame (truncated file?)", path)
            frame["columns"] = columns
            frame["data"] = np.array([[float(v) for v in row.split()] for row in block]).reshape(n, len(columns))
            i += 1 + n
        else:
            i += 1
    return frame, i


def read_dump(path: str | os.PathLike, species: Sequence[str], index=slice(None),
              rotation: np.ndarray | None = None) -> list[Atoms]:
    """Frames of a ``dump custom`` text file as ASE Atoms.

    ``species[k]`` is the element of LAMMPS type k+1. Columns ``x y z`` (or ``xu yu zu``) give
    positions, ``vx vy vz`` velocities (Å/ps), ``fx fy fz`` forces (attached as a single-point
    calculator with ``c_pe``/``c_*pe*`` energies when present); every other column is kept in
    ``atoms.arrays`` under its dump name. Atoms are sorted by ``id`` when present. ``rotation``
    (from :func:`write_lammps_data`) turns vectors back into the original ASE frame.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("dump file not found", str(path))
    lines = path.read_text().splitlines()
    frames = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("ITEM: TIMESTEP"):
            i += 1
            continue
        frame, i = _frame(lines, i, str(path))
        if "data" in frame:
            frames.append(frame)
    selected = frames[index] if isinstance(index, slice) else [frames[index]]
    return [_to_atoms(f, list(species), rotation) for f in selected]


def _to_atoms(frame: dict, species: list[str], rotation: np.ndarray | None) -> Atoms:
    from md_runs.lammps.data import VELOCITY_TO_LAMMPS

    cols = {name: k for k, name in enumerate(frame["columns"])}
    data = frame["data"]
    if "id" in cols:
        data = data[np.argsort(data[:, cols["id"]])]
    box: LammpsBox = box_from_bounds(frame["bounds"], frame["tilt"], frame["boundary"])
    rot = np.eye(3) if rotation is None else np.asarray(rotation)

    def vec(names):
        return data[:, [cols[n] for n in names]] @ rot.T if all(n in cols for n in names) else None

    positions = vec(("x", "y", "z"))
    if positions is None:
        positions = vec(("xu", "yu", "zu"))
    if positions is None:
        raise UserError("the dump has no x y z (or xu yu zu) columns")
    if "type" not in cols:
        raise UserError("the dump has no type column")
    types = data[:, cols["type"]].astype(int)
    if types.max() > len(species):
        raise UserError(f"the dump has atom type {types.max()} but only {len(species)} species were given")
    pbc = [flag == "p" for flag in box.boundary.split()]
    atoms = Atoms([species[t - 1] for t in types], positions=positions - box.lo @ rot.T,
                  cell=box.cell() @ rot.T, pbc=pbc)
    atoms.info["timestep"] = frame["timestep"]
    velocities = vec(("vx", "vy", "vz"))
    if velocities is not None:
        atoms.set_velocities(velocities / VELOCITY_TO_LAMMPS)
    used = {"id", "type", "x", "y", "z", "xu", "yu", "zu", "vx", "vy", "vz", "fx", "fy", "fz"}
    for name, k in cols.items():
        if name not in used:
            atoms.arrays[name] = data[:, k].copy()
    forces = vec(("fx", "fy", "fz"))
    if forces is not None:
        results = {"forces": forces}
        for name in ("c_pe", "c_peatom", "c_pe_atom"):
            if name in cols:
                results["energies"] = data[:, cols[name]].copy()
                results["energy"] = float(results["energies"].sum())
                break
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms
