"""SEI|Li interfaces: a LiF(100) or Li2O(100) film on a Li(100) slab, laterally commensurate.

The in-plane cells are matched with small strains applied to the SEI film (Li keeps its lattice):

- LiF(100) rotated 45° (square surface cell a/√2 = 2.85 Å): 6 x 6 cells = 17.10 Å on Li(100)
  5 x 5 = 17.20 Å (film strain +0.6 %);
- Li2O(100) (conventional 4.61 Å): 3 x 3 = 13.83 Å on Li(100) 4 x 4 = 13.76 Å (−0.5 %).

The film's lowest atomic layer sits ``gap`` Å above the top Li layer; ``vacuum`` Å of empty space
closes the periodic cell above the film (fully periodic, as every builder's output).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms
from ase.build import make_supercell

from md_runs.builders.crystals import LI_A, li_slab, sei_phase
from md_runs.builders.validate import finish
from mlip.errors import UserError

#: phase -> (Li(100) lateral repeat, in-plane transformation of the film's conventional cell, its repeat)
MATCH = {
    "LiF": (5, np.array([[1, 1, 0], [-1, 1, 0], [0, 0, 1]]), 3),
    "Li2O": (4, np.eye(3, dtype=int), 3),
}


def sei_li_interface(
    phase: Literal["LiF", "Li2O"] = "LiF",
    li_layers: int = 4,
    sei_layers: int = 1,
    gap: float = 2.2,
    vacuum: float = 10.0,
) -> Atoms:
    """A ``phase`` film of ``sei_layers`` conventional cells (2 atomic layers each for LiF, 4 for
    Li2O) on a Li(100) slab of ``li_layers`` layers; see the module doc for the lateral match."""
    if phase not in MATCH:
        raise UserError(f"phase must be one of {', '.join(MATCH)}, got {phase!r}", "phase")
    if int(li_layers) < 2 or int(sei_layers) < 1:
        raise UserError(f"need li_layers >= 2 and sei_layers >= 1, got {li_layers}, {sei_layers}", "layers")
    if gap <= 0 or vacuum < 0:
        raise UserError(f"gap must be > 0 and vacuum >= 0, got {gap}, {vacuum}", "gap")
    n_li, transform, n_film = MATCH[phase]
    li = li_slab("100", size=(n_li, n_li), layers=int(li_layers), vacuum=10.0, a=LI_A)
    film = make_supercell(sei_phase(phase), transform).repeat((n_film, n_film, int(sei_layers)))
    width = float(li.cell[0, 0])
    film_strain = width / float(np.linalg.norm(film.cell[0])) - 1.0
    film.set_cell(np.diag([width, width, film.cell[2, 2]]), scale_atoms=True)  # lateral strain on the film
    film.wrap()
    li_pos = li.positions - [0.0, 0.0, li.positions[:, 2].min()]
    f_pos = film.positions - [0.0, 0.0, film.positions[:, 2].min()]
    f_pos[:, 2] += li_pos[:, 2].max() + float(gap)
    height = float(f_pos[:, 2].max() + vacuum + gap)
    atoms = Atoms(li.get_chemical_symbols() + film.get_chemical_symbols(), positions=np.vstack([li_pos, f_pos]),
                  cell=np.diag([width, width, height]), pbc=True)
    atoms.arrays["mol_id"] = np.full(len(atoms), -1, dtype=int)
    atoms.info.update({"phase": phase, "face": "100", "gap": float(gap), "vacuum": float(vacuum),
                       "n_li_metal": len(li), "film_strain": round(film_strain, 4)})
    return finish(atoms, f"sei_li_interface({phase})")


__all__ = ["sei_li_interface"]
