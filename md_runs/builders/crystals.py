"""Crystals: bcc Li bulk and slabs, and the inorganic SEI phases LiF, Li2O and Li2CO3."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from ase import Atoms
from ase.build import bcc100, bcc110, bcc111, bulk

from mlip.errors import UserError
from md_runs.builders.validate import finish

LI_A = 3.44  # bcc Li lattice constant (Å), room temperature ~3.45-3.51; 0 K ~3.44
SeiPhase = Literal["LiF", "Li2O", "Li2CO3"]
SEI_PHASES: tuple[str, ...] = get_args(SeiPhase)


def _repeat(repeat, name: str = "repeat") -> tuple[int, int, int]:
    try:
        rep = tuple(int(r) for r in repeat)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be three positive integers, got {repeat!r}", name) from None
    if len(rep) != 3 or min(rep) < 1:
        raise UserError(f"{name} must be three positive integers, got {repeat!r}", name)
    return rep  # type: ignore[return-value]


def li_bulk(repeat: tuple[int, int, int] = (2, 2, 2), a: float = LI_A) -> Atoms:
    """bcc Li, conventional cubic cell (2 atoms) repeated; nearest neighbours at a*sqrt(3)/2."""
    if a <= 0:
        raise UserError(f"lattice constant must be positive, got {a}", "a")
    atoms = bulk("Li", "bcc", a=a, cubic=True).repeat(_repeat(repeat))
    atoms.pbc = True
    return finish(atoms, "li_bulk")


def li_slab(
    face: Literal["100", "110", "111"] = "100",
    size: tuple[int, int] = (2, 2),
    layers: int = 4,
    vacuum: float = 10.0,
    a: float = LI_A,
) -> Atoms:
    """A Li(100), Li(110) or Li(111) slab, normal along z, periodic in all three directions.

    The cell is orthogonal; its height is the slab thickness plus ``vacuum`` (the empty space
    between the top layer and the periodic image of the bottom layer). The slab is centred in z.
    Layer spacing: a/2 for (100), a/sqrt(2) for (110), a/(2 sqrt(3)) for the open (111) face (so a
    (111) slab needs about three times the layers of a (100) slab of the same thickness). Li(110)
    and Li(111) need an even ``size[1]`` for an orthogonal cell.
    """
    face = str(face)
    sx, sy = (int(s) for s in size)
    if sx < 1 or sy < 1:
        raise UserError(f"size must be two positive integers, got {size!r}", "size")
    if int(layers) < 2:
        raise UserError(f"a slab needs at least 2 layers, got {layers}", "layers")
    if vacuum < 0:
        raise UserError(f"vacuum must be >= 0, got {vacuum}", "vacuum")
    if face == "100":
        atoms = bcc100("Li", size=(sx, sy, int(layers)), a=a, orthogonal=True)
    elif face in ("110", "111"):
        if sy % 2:
            raise UserError(f"Li({face}) needs an even second size for an orthogonal cell, got {size!r}", "size")
        atoms = (bcc110 if face == "110" else bcc111)("Li", size=(sx, sy, int(layers)), a=a, orthogonal=True)
    else:
        raise UserError(f"face must be '100', '110' or '111', got {face!r}", "face")
    z = atoms.positions[:, 2]
    thickness = float(z.max() - z.min())
    cell = np.array(atoms.cell)
    cell[2] = [0.0, 0.0, thickness + float(vacuum)]
    atoms.set_cell(cell)
    atoms.positions[:, 2] += (thickness + vacuum) / 2 - (z.max() + z.min()) / 2
    atoms.pbc = True
    atoms.info["face"] = face
    atoms.arrays["mol_id"] = np.full(len(atoms), -1, dtype=int)  # -1: part of the Li slab
    return finish(atoms, f"li_slab({face})")


def _li2co3() -> Atoms:
    """Li2CO3 (zabuyelite), C2/c (No. 15), Z = 4.

    Lattice a 8.36, b 4.97, c 6.19 Å, beta 114.8° (room-temperature refinements, e.g. Idemoto et
    al. 1998, neutron powder data). Wyckoff positions: Li 8f (0.1971, 0.4460, 0.8348),
    C 4e (0, 0.0656, 1/4), O1 4e (0, 0.3223, 1/4), O2 8f (0.1464, 0.9367, 0.3135).
    Checks (tests): C-O 1.276/1.288 Å (x2), Li-O 1.90-2.02 Å, density 2.10 g/cm^3.
    """
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    lattice = Lattice.monoclinic(8.36, 4.97, 6.19, 114.8)
    struct = Structure.from_spacegroup(
        "C2/c",
        lattice,
        ["Li", "C", "O", "O"],
        [[0.19713, 0.44599, 0.83483], [0.0, 0.06556, 0.25], [0.0, 0.32227, 0.25], [0.14636, 0.93671, 0.31345]],
    )
    return AseAtomsAdaptor.get_atoms(struct)


def sei_phase(name: SeiPhase = "LiF", repeat: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """Conventional cell of an inorganic SEI phase, repeated.

    LiF rocksalt a = 4.03 Å (8 atoms), Li2O antifluorite a = 4.61 Å (12 atoms), Li2CO3 monoclinic
    C2/c (24 atoms, see :func:`_li2co3`).
    """
    if name == "LiF":
        atoms = bulk("LiF", "rocksalt", a=4.03, cubic=True)
    elif name == "Li2O":
        # antifluorite: O on the fcc sites, Li in all tetrahedral holes
        atoms = bulk("OLi2", "fluorite", a=4.61, cubic=True)
    elif name == "Li2CO3":
        atoms = _li2co3()
    else:
        raise UserError(f"unknown SEI phase {name!r}; known: {', '.join(SEI_PHASES)}", "name")
    atoms = atoms.repeat(_repeat(repeat))
    atoms.pbc = True
    atoms.info["phase"] = name
    return finish(atoms, f"sei_phase({name})")
