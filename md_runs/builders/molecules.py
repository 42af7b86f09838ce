"""Molecular geometries of the electrolyte, its ions, SEI molecules and decomposition fragments.

EC, DMC and LEDC (folded and extended) are gas-phase GFN1-xTB minima (tblite, BFGS to fmax 0.01 eV/Å) started from
standard internal coordinates (C=O 1.19-1.21, C-O 1.33-1.45, C-C 1.52, C-H 1.09 Å). PF6- is an
ideal octahedron with P-F 1.60 Å. The ring-opened EC radical (•CH2CH2OCO2•) is cut from the relaxed
LEDC, CO3 is trigonal planar with C-O 1.29 Å, C2H4 and CO come from ase.build.molecule (G2).

:func:`molecule` returns the molecule centred in a periodic cubic box (``vacuum`` Å of space on each
side) with ``info['charge']`` set to the molecule's formal charge (PF6 -1, Li+ +1; fragments such
as CO3 and F are neutral radicals, as GFN1-xTB sees them in a neutral cell).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from ase import Atoms
from ase.build import molecule as ase_molecule

from mlip.errors import UserError
from md_runs.builders.validate import finish

MoleculeName = Literal[
    "EC", "DMC", "PF6", "Li+", "LEDC", "LEDC_extended", "C2H4", "CO3", "CO", "CO2", "ring_opened_EC", "F", "LiF", "Li2O"
]
MOLECULE_NAMES: tuple[str, ...] = get_args(MoleculeName)

#: formal charges (the builders pair Li+ with PF6- so a cell is always neutral)
FORMAL_CHARGE = {"PF6": -1, "Li+": 1}

_EC = """
C     0.00000    1.51568    0.00000
O    -0.00000    2.69952    0.00000
O     1.10464    0.73981   -0.00000
O    -1.10464    0.73981    0.00000
C     0.77155   -0.63253    0.00000
C    -0.77155   -0.63253    0.00000
H     1.19025   -1.10744    0.89464
H     1.19025   -1.10744   -0.89464
H    -1.19025   -1.10744   -0.89464
H    -1.19025   -1.10744    0.89464
"""

_DMC = """
C     0.01277    0.00905   -0.00000
O     0.04392    1.20973   -0.00000
O     1.09375   -0.77457   -0.00000
O    -1.08751   -0.74225    0.00000
C     2.34077   -0.08368    0.00000
C    -2.35117   -0.08300   -0.00000
H     3.12028   -0.84492    0.00000
H     2.42578    0.54418   -0.89158
H     2.42578    0.54418    0.89158
H    -2.22193    1.00239   -0.00000
H    -2.90123   -0.39055   -0.89265
H    -2.90123   -0.39055    0.89265
"""

# (CH2OCO2Li)2, folded: each Li bridges the two carbonate groups. The lowest of 20 GFN1-xTB minima
# started from rotations about the C-C and O-CH2 bonds of the extended form (1.7 eV below it) and
# compact (largest interatomic distance 5.2 Å), so it packs into small periodic boxes.
_LEDC = """
C     1.61607   -0.43810    0.41126
O     1.93585    0.19548   -0.59808
O     1.96515   -1.56125    0.77432
O     0.65737    0.13249    1.28527
Li    0.98866   -0.21432   -2.01377
C    -0.02710    1.30130    0.86663
C    -0.68220   -1.16583   -1.07062
O    -1.02310   -1.75732   -0.04291
O    -0.12415   -1.60268   -2.07695
O    -0.87380    0.23672   -1.13234
Li    0.26383   -1.93521    1.13073
C    -1.26690    0.91814    0.04683
H     0.64187    1.93533    0.26602
H    -0.32995    1.84878    1.76692
H    -1.80445    1.82339   -0.25788
H    -1.93715    0.28308    0.64457
"""

# (CH2OCO2Li)2 extended, Ci-symmetric, each Li chelated by the two terminal carbonate O (Li-O ~1.9 Å)
_LEDC_EXTENDED = """
C     2.72685   -1.15809    0.00000
O     3.34859   -0.06386    0.00000
O     3.30188   -2.26660    0.00000
O     1.37798   -1.14900    0.00000
Li    4.71580   -1.19859    0.00000
C     0.75067    0.12759    0.00000
C    -2.72685    1.15809    0.00000
O    -3.34859    0.06386    0.00000
O    -3.30188    2.26660    0.00000
O    -1.37798    1.14900    0.00000
Li   -4.71580    1.19859    0.00000
C    -0.75067   -0.12759    0.00000
H     1.04492    0.69546   -0.89276
H     1.04492    0.69546    0.89276
H    -1.04492   -0.69546    0.89276
H    -1.04492   -0.69546   -0.89276
"""

# •CH2-CH2-O-CO2• : one half of extended LEDC (carbonate C, 3 O, CH2, its 2 H) + the other CH2, its H
_RING_OPENED_EC_ROWS = (0, 1, 2, 3, 5, 11, 12, 13, 14, 15)


def _parse(block: str) -> Atoms:
    rows = [line.split() for line in block.strip().splitlines()]
    return Atoms([r[0] for r in rows], positions=[[float(x) for x in r[1:4]] for r in rows])


def _raw(name: str) -> Atoms:
    if name == "EC":
        return _parse(_EC)
    if name == "DMC":
        return _parse(_DMC)
    if name == "LEDC":
        return _parse(_LEDC)
    if name == "LEDC_extended":
        return _parse(_LEDC_EXTENDED)
    if name == "ring_opened_EC":
        return _parse(_LEDC_EXTENDED)[list(_RING_OPENED_EC_ROWS)]
    if name == "PF6":
        r = 1.60
        pos = [[0, 0, 0]] + [list(v) for v in r * np.vstack([np.eye(3), -np.eye(3)])]
        return Atoms("PF6", positions=pos)
    if name == "CO3":
        ang = np.radians([90.0, 210.0, 330.0])
        pos = [[0, 0, 0]] + [[1.29 * np.cos(a), 1.29 * np.sin(a), 0.0] for a in ang]
        return Atoms("CO3", positions=pos)
    if name == "Li+":
        return Atoms("Li", positions=[[0, 0, 0]])
    if name == "F":
        return Atoms("F", positions=[[0, 0, 0]])
    if name == "LiF":
        return Atoms("LiF", positions=[[0, 0, 0], [0, 0, 1.564]])  # gas-phase LiF bond length
    if name == "Li2O":
        return Atoms("OLi2", positions=[[0, 0, 0], [0, 0, 1.60], [0, 0, -1.60]])  # linear, D_inf_h
    if name in ("C2H4", "CO", "CO2"):
        return ase_molecule(name)
    raise UserError(f"unknown molecule {name!r}; known: {', '.join(MOLECULE_NAMES)}", "molecule")


def molecule_geometry(name: str) -> Atoms:
    """The bare molecule (no cell, not periodic), centred at its centre of mass."""
    atoms = _raw(name)
    atoms.positions -= atoms.get_center_of_mass()
    return atoms


def molecule(name: MoleculeName, vacuum: float = 6.0) -> Atoms:
    """A molecule centred in a periodic cubic box with ``vacuum`` Å of space on each side."""
    atoms = molecule_geometry(name)
    extent = np.ptp(atoms.positions, axis=0).max()
    side = float(extent + 2 * vacuum)
    atoms.cell = np.eye(3) * side
    atoms.pbc = True
    atoms.positions += side / 2
    atoms.info["molecule"] = name
    return finish(atoms, f"molecule {name}", charge=FORMAL_CHARGE.get(name, 0))
