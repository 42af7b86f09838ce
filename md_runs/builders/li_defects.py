"""Point defects of Li metal: vacancies and self-interstitials in bcc bulk, adatoms and vacancies
on Li slabs (the structures of Li plating, stripping and surface diffusion).

- ``vacancy`` / ``divacancy``: one Li, or two nearest-neighbour Li, removed (bulk or slab);
  on a slab the removed atoms are in the top layer (a surface vacancy);
- ``interstitial`` (bulk only): a Li at a tetrahedral hole of the bcc lattice (a/4 from a cube
  face centre, sqrt(5)/4 a from its four neighbours); relaxation, strain or MD turn it into the
  <110> dumbbell that is the stable self-interstitial;
- ``adatom`` (slab only): a Li in the hollow site above the top layer, at the height the layer
  above would have.

The atom removed or the site filled is drawn with ``seed``. ``info['defect']`` names the defect
and ``info['defect_index']`` the added atom's index (or -1).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms

from md_runs.builders.crystals import LI_A, li_bulk, li_slab
from md_runs.builders.validate import finish
from mlip.errors import UserError

LiDefect = Literal["vacancy", "divacancy", "interstitial", "adatom"]
#: a self-interstitial or adatom starts closer to its neighbours than bulk Li (2.0 Å rule)
LI_DEFECT_MIN_DISTANCE = {"Li-Li": 1.7}


def li_defect(
    defect: LiDefect = "vacancy",
    face: Literal["bulk", "100", "110", "111"] = "bulk",
    repeat: tuple[int, int, int] = (4, 4, 4),
    size: tuple[int, int] = (6, 6),
    layers: int = 6,
    vacuum: float = 10.0,
    seed: int = 0,
    a: float = LI_A,
) -> Atoms:
    """bcc Li (``face: bulk``, ``repeat`` of the cubic cell) or a Li slab (``face``, ``size``,
    ``layers``, ``vacuum`` as :func:`~md_runs.builders.crystals.li_slab`) with one point defect."""
    bulk_cell = str(face) == "bulk"
    if bulk_cell and defect == "adatom":
        raise UserError("an adatom needs a surface: give face 100, 110 or 111", "defect")
    if not bulk_cell and defect == "interstitial":
        raise UserError("a self-interstitial is a bulk defect: use face bulk (or an adatom on a slab)", "defect")
    atoms = li_bulk(repeat, a) if bulk_cell else li_slab(face, size, layers, vacuum, a)
    rng = np.random.default_rng(seed)
    z = atoms.positions[:, 2]
    top = np.flatnonzero(z > z.max() - 0.1) if not bulk_cell else np.arange(len(atoms))
    index = -1
    if defect in ("vacancy", "divacancy"):
        k = int(rng.choice(top))
        remove = [k]
        if defect == "divacancy":
            d = atoms.get_distances(k, top, mic=True)
            d[top == k] = np.inf
            remove.append(int(top[int(np.argmin(d))]))
        del atoms[sorted(remove, reverse=True)]
    elif defect == "interstitial":
        cell = np.asarray(atoms.cell)
        n = np.array(repeat, dtype=int)
        corner = rng.integers(0, n)  # a conventional cell, then a tetrahedral hole on one of its faces
        site = (corner + np.array([0.5, 0.25, 0.0])[rng.permutation(3)]) / n
        atoms += Atoms("Li", positions=[site @ cell])
        index = len(atoms) - 1
    elif defect == "adatom":
        zs = np.sort(z)
        layer_z = zs[np.r_[True, np.diff(zs) > 0.1]]  # one height per layer (no rounding across a boundary)
        # where the next layer's atom would sit: bcc stacks (100) and (110) layers ABAB and (111)
        # layers ABCABC, so it lies straight above an atom `period` layers down
        period = 3 if str(face) == "111" else 2
        if len(layer_z) < period:
            raise UserError(f"an adatom on Li({face}) needs a slab of at least {period} layers", "layers")
        spacing = float(layer_z[-1] - layer_z[-2])
        src = np.flatnonzero(np.abs(z - layer_z[-period]) < 0.05)
        position = atoms.positions[int(rng.choice(src))] + [0.0, 0.0, period * spacing]
        atoms += Atoms("Li", positions=[position])
        index = len(atoms) - 1
        if "mol_id" in atoms.arrays:
            atoms.arrays["mol_id"][index] = -1
    else:
        raise UserError(f"defect must be one of vacancy, divacancy, interstitial, adatom, got {defect!r}", "defect")
    atoms.info.update({"defect": str(defect), "defect_index": index,
                       "min_distance_overrides": dict(LI_DEFECT_MIN_DISTANCE)})
    return finish(atoms, f"li_defect({face}, {defect})")


__all__ = ["LiDefect", "li_defect"]
