"""Point defects in the SEI crystals: a Li vacancy, a Li interstitial, or a Frenkel pair.

Cells stay charge-neutral (the reference method is run neutral): a vacancy removes a Li atom, an
interstitial adds one (the Li metal of the anode is the reservoir), a Frenkel pair moves one Li
from its site to an interstitial site. Interstitial sites are the largest holes of the perfect
crystal: the points of its conventional cell farthest from every atom (rocksalt LiF: the
tetrahedral sites; antifluorite Li2O: the empty octahedral sites), found on a fine grid and shared
by every supercell. The defect's atoms may sit closer to their neighbours than the builders
normally allow (an unrelaxed interstitial in LiF is 1.75 Å from four Li): the frame records its
own looser thresholds in ``info['min_distance_overrides']``, which later steps (rattle, strain)
keep honouring.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from ase import Atoms

from md_runs.builders.crystals import SeiPhase, _repeat, sei_phase
from md_runs.builders.validate import finish
from mlip.errors import UserError

Defect = Literal["vacancy", "interstitial", "frenkel"]
#: thresholds (Å) for pairs involving the defect's atom: an unrelaxed interstitial sits close
DEFECT_MIN_DISTANCE = {"Li-Li": 1.6, "F-Li": 1.3, "Li-O": 1.3}
GRID_PER_A = 6  # grid points per Å along each cell vector when looking for holes
#: Li atoms a defect adds to its host crystal (a supercell with it holds host + this many Li)
LI_EXCESS = {"vacancy": -1, "interstitial": 1, "frenkel": 0}


def interstitial_sites(unit: Atoms, tol: float = 0.05) -> np.ndarray:
    """Fractional coordinates (in ``unit``) of its largest holes: the grid points whose distance
    to the nearest atom is within ``tol`` Å of the largest such distance, merged within 0.5 Å."""
    cell = np.asarray(unit.cell)
    # multiples of 4, so high-symmetry holes at quarter positions lie on the grid
    n = [4 * max(2, int(np.ceil(GRID_PER_A * length / 4))) for length in unit.cell.lengths()]
    grid = np.stack(np.meshgrid(*[np.arange(k) / k for k in n], indexing="ij"), -1).reshape(-1, 3)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    images = (unit.get_scaled_positions()[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ cell
    points = grid @ cell
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(images).query(points)
    best = dist.max()
    cand = grid[dist >= best - tol]
    sites: list[np.ndarray] = []
    for f in cand:  # merge neighbouring grid points of the same hole (minimum image in fractions)
        if all(np.linalg.norm(((f - s + 0.5) % 1.0 - 0.5) @ cell) > 0.5 for s in sites):
            sites.append(f)
    return np.array(sites)


def supercell_interstitial_sites(unit: Atoms, repeat) -> np.ndarray:
    """Every copy of every hole of ``unit``, in fractional coordinates of ``unit.repeat(repeat)``."""
    rep = np.array(repeat, dtype=int)
    offsets = np.stack(np.meshgrid(*[np.arange(r) for r in rep], indexing="ij"), -1).reshape(-1, 3)
    return ((interstitial_sites(unit)[None, :, :] + offsets[:, None, :]) / rep).reshape(-1, 3)


def sei_defect(
    name: SeiPhase = "LiF",
    repeat: tuple[int, int, int] = (2, 2, 2),
    defect: Defect = "interstitial",
    seed: int = 0,
    min_pair_distance: float = 4.0,
) -> Atoms:
    """A supercell of an SEI phase with one Li point defect (see the module doc).

    The Li removed and the site filled are drawn with ``seed``; a Frenkel pair's interstitial is
    at least ``min_pair_distance`` Å (minimum image) from its vacancy, so it does not recombine at
    once. ``info['defect']`` names the defect, ``info['defect_index']`` the interstitial's index
    (or -1) and ``info['vacancy_position']`` where the removed Li was (or None).
    """
    rep = _repeat(repeat)
    unit = sei_phase(name)
    atoms = sei_phase(name, rep)
    rng = np.random.default_rng(seed)
    sites = supercell_interstitial_sites(unit, rep)
    cell = np.asarray(atoms.cell)
    li = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "Li")
    vacancy = None
    if defect in ("vacancy", "frenkel"):
        k = int(rng.choice(li))
        vacancy = atoms.positions[k].copy()
        del atoms[k]
    index = -1
    if defect in ("interstitial", "frenkel"):
        if vacancy is not None:
            frac_v = np.linalg.solve(cell.T, vacancy)
            d = np.linalg.norm((((sites - frac_v) + 0.5) % 1.0 - 0.5) @ cell, axis=1)
            sites = sites[d >= min_pair_distance]
            if not len(sites):
                raise UserError(f"no interstitial site {min_pair_distance} Å from the vacancy: use a larger repeat",
                                "sei_defect")
        site = sites[int(rng.integers(len(sites)))]
        atoms += Atoms("Li", positions=[site @ cell])
        index = len(atoms) - 1
    elif defect != "vacancy":
        raise UserError(f"defect must be vacancy, interstitial or frenkel, got {defect!r}", "defect")
    atoms.info.update({"phase": name, "defect": defect, "defect_index": index,
                       "vacancy_position": None if vacancy is None else vacancy.round(4).tolist(),
                       "min_distance_overrides": dict(DEFECT_MIN_DISTANCE)})
    return finish(atoms, f"sei_defect({name}, {defect})")


__all__ = ["LI_EXCESS", "Defect", "interstitial_sites", "sei_defect", "supercell_interstitial_sites"]
