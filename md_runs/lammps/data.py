"""ASE Atoms <-> LAMMPS data files, with the rotation LAMMPS' triclinic convention needs.

LAMMPS wants the cell as a = (lx,0,0), b = (xy,ly,0), c = (xz,yz,lz). An ASE cell in any
orientation is rotated into that frame (``positions_lammps = positions @ rotation``); forces
rotate back with ``rotation.T`` and stresses as ``rotation @ s @ rotation.T``.

Why not ``ase.io.write(format="lammps-data")``: measured in ``benchmarks/bench_lammps_io.py``, it
writes a rotated triclinic cell exactly as this writer does (LAMMPS reads back the same
positions to 1e-15 Å), but it keeps a non-periodic direction's bounds at 0..cell, so LAMMPS
refuses a slab with atoms below z = 0 (``ERROR: Did not assign all atoms correctly``); this
writer shrink-wraps such directions with padding, which the interface runs need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms, units
from ase.data import atomic_masses, atomic_numbers

from mlip.errors import UserError
from mlip.utils import write_text_atomic

VELOCITY_TO_LAMMPS = units.fs * 1000.0  # ASE velocity (Å per ASE time unit) -> Å/ps (metal)


@dataclass
class LammpsBox:
    """A cell in LAMMPS' frame: bounds, tilts, boundary flags and the rotation from ASE's frame."""

    lo: np.ndarray                    # xlo, ylo, zlo
    hi: np.ndarray                    # xhi, yhi, zhi
    tilt: np.ndarray                  # xy, xz, yz
    boundary: str                     # e.g. "p p p", "p p s"
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # x_lmp = x_ase @ rotation

    @property
    def triclinic(self) -> bool:
        return bool(np.any(np.abs(self.tilt) > 0.0))

    def cell(self) -> np.ndarray:
        """The cell vectors in LAMMPS' frame (rows)."""
        lx, ly, lz = self.hi - self.lo
        xy, xz, yz = self.tilt
        return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])

    def to_ase_vectors(self, v: np.ndarray) -> np.ndarray:
        """Rotate row vectors (positions, forces) from LAMMPS' frame back to ASE's."""
        return np.asarray(v) @ self.rotation.T

    def to_ase_stress(self, s: np.ndarray) -> np.ndarray:
        """Rotate a 3x3 tensor from LAMMPS' frame back to ASE's."""
        return self.rotation @ np.asarray(s) @ self.rotation.T


def lammps_box(atoms: Atoms, padding: float = 10.0) -> LammpsBox:
    """The LAMMPS box for ``atoms`` (periodic directions need cell vectors; others are shrink-wrapped)."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = atoms.cell.array.astype(float)
    if pbc.all():
        if abs(np.linalg.det(cell)) < 1e-9:
            raise UserError("a periodic cell needs three non-degenerate cell vectors")
        if np.linalg.det(cell) < 0:
            raise UserError("LAMMPS needs a right-handed cell; this one is left-handed (swap two cell vectors)")
        a, b, c = cell
        lx = np.linalg.norm(a)
        ex = a / lx
        xy = b @ ex
        ey = b - xy * ex
        ly = np.linalg.norm(ey)
        ey /= ly
        ez = np.cross(ex, ey)
        xz, yz, lz = c @ ex, c @ ey, c @ ez
        rotation = np.column_stack([ex, ey, ez])
        tilt = np.array([xy, xz, yz])
        tilt[np.abs(tilt) < 1e-10 * max(lx, ly, lz)] = 0.0
        return LammpsBox(np.zeros(3), np.array([lx, ly, lz]), tilt, "p p p", rotation)
    # not fully periodic: an orthogonal box; periodic directions must lie along x, y or z
    offdiag = cell - np.diag(np.diag(cell))
    if np.any(np.abs(offdiag[:, pbc]) > 1e-9) or np.any(np.abs(offdiag[pbc, :]) > 1e-9):
        raise UserError("a partly periodic system needs an orthogonal cell for LAMMPS")
    pos = atoms.positions
    lo = np.zeros(3)
    hi = np.diag(cell).copy()
    for d in range(3):
        if not pbc[d]:
            lo[d] = pos[:, d].min() - padding if len(pos) else -padding
            hi[d] = pos[:, d].max() + padding if len(pos) else padding
        elif hi[d] <= 0:
            raise UserError(f"periodic direction {'xyz'[d]} has no cell length")
    boundary = " ".join("p" if p else "s" for p in pbc)
    return LammpsBox(lo, hi, np.zeros(3), boundary, np.eye(3))


def type_map(atoms: Atoms, species: Sequence[str] | None = None) -> list[str]:
    """Element of each LAMMPS type (type k+1 = species[k]); defaults to the elements present."""
    present = list(dict.fromkeys(atoms.get_chemical_symbols()))
    if species is None:
        return present
    species = [str(s) for s in species]
    missing = [s for s in present if s not in species]
    if missing:
        what = f"element {missing[0]} is" if len(missing) == 1 else f"elements {', '.join(missing)} are"
        raise UserError(f"{what} not in the model's species list ({' '.join(species)})")
    return species


def lammps_positions(atoms: Atoms, box: LammpsBox) -> np.ndarray:
    """Positions in LAMMPS' frame, wrapped into the box along periodic directions."""
    x = atoms.positions @ box.rotation
    if box.boundary == "p p p":
        frac = np.linalg.solve(box.cell().T, x.T).T
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        x = frac @ box.cell()
    else:
        for d, flag in enumerate(box.boundary.split()):
            if flag == "p":
                length = box.hi[d] - box.lo[d]
                x[:, d] = box.lo[d] + np.mod(x[:, d] - box.lo[d], length)
    return x


def write_lammps_data(path: str | os.PathLike, atoms: Atoms, species: Sequence[str] | None = None,
                      velocities: bool = True) -> tuple[LammpsBox, list[str]]:
    """Write ``atoms`` as a LAMMPS data file (atom_style atomic, units metal); atomically.

    Returns the box (with the rotation back to ASE's frame) and the type map (type k+1 =
    element k). Velocities are written when ``velocities`` and the atoms have momenta.
    """
    types = type_map(atoms, species)
    box = lammps_box(atoms)
    x = lammps_positions(atoms, box)
    index = {s: k + 1 for k, s in enumerate(types)}
    symbols = atoms.get_chemical_symbols()
    lines = ["seimlip data file (units metal, atom_style atomic)", "",
             f"{len(atoms)} atoms", f"{len(types)} atom types", ""]
    for d, name in enumerate("xyz"):
        lines.append(f"{box.lo[d]:.16g} {box.hi[d]:.16g} {name}lo {name}hi")
    if box.triclinic:
        lines.append(f"{box.tilt[0]:.16g} {box.tilt[1]:.16g} {box.tilt[2]:.16g} xy xz yz")
    lines += ["", "Masses", ""]
    lines += [f"{k + 1} {atomic_masses[atomic_numbers[s]]:.8g}  # {s}" for k, s in enumerate(types)]
    lines += ["", "Atoms  # atomic", ""]
    lines += [f"{i + 1} {index[s]} {p[0]:.16g} {p[1]:.16g} {p[2]:.16g}" for i, (s, p) in enumerate(zip(symbols, x))]
    momenta = atoms.get_momenta()
    if velocities and np.any(momenta):
        v = atoms.get_velocities() @ box.rotation * VELOCITY_TO_LAMMPS
        lines += ["", "Velocities", ""]
        lines += [f"{i + 1} {u[0]:.16g} {u[1]:.16g} {u[2]:.16g}" for i, u in enumerate(v)]
    write_text_atomic(path, "\n".join(lines) + "\n")
    return box, types


def box_from_bounds(bounds: np.ndarray, tilt: np.ndarray | None, boundary: str = "p p p") -> LammpsBox:
    """A box from dump-style bounds (with tilts, LAMMPS' bounding-box convention)."""
    bounds = np.asarray(bounds, dtype=float)
    xy, xz, yz = (0.0, 0.0, 0.0) if tilt is None else (float(t) for t in tilt)
    xlo = bounds[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = bounds[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo = bounds[1, 0] - min(0.0, yz)
    yhi = bounds[1, 1] - max(0.0, yz)
    return LammpsBox(np.array([xlo, ylo, bounds[2, 0]]), np.array([xhi, yhi, bounds[2, 1]]),
                     np.array([xy, xz, yz]), boundary)

