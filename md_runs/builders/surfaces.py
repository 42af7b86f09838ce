"""Li | electrolyte interfaces and decomposition fragments placed on Li surfaces."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from ase import Atoms
from ase.geometry import find_mic, get_distances
from scipy.spatial.transform import Rotation

from mlip.errors import UserError
from md_runs.builders.crystals import LI_A, li_slab
from md_runs.builders.molecules import molecule_geometry
from md_runs.builders.packing import electrolyte_box
from md_runs.builders.validate import finish, min_distance_threshold

Fragment = Literal["ring_opened_EC", "CO3", "C2H4", "F", "LiF", "Li2O", "CO", "CO2"]
FRAGMENTS: tuple[str, ...] = get_args(Fragment)
#: solvent molecules that add_fragment may remove to make room (formula -> name)
_SOLVENT_FORMULAS = {"C3H4O3": "EC", "C3H6O3": "DMC"}
#: no atom of a placed fragment comes closer than this to an atom of another molecule (Å)
FRAGMENT_CLEARANCE = 1.8
#: among this many clash-free placements, the one removing the fewest solvent molecules wins
PLACEMENT_CANDIDATES = 20
#: Å added to validate_structure's pair thresholds when placing a fragment
PLACEMENT_MARGIN = 0.3


def _check_lateral(slab: Atoms, other: Atoms) -> None:
    for atoms, name in ((slab, "slab"), (other, "electrolyte")):
        cell = np.array(atoms.cell)
        if atoms.cell.rank < 3 or np.abs(cell[2, :2]).max() > 1e-6 or np.abs(cell[:2, 2]).max() > 1e-6:
            raise UserError("cell must have its third vector along z and the first two in the xy plane", name)
    if not np.allclose(np.array(slab.cell)[:2, :2], np.array(other.cell)[:2, :2], atol=1e-3):
        raise UserError(
            f"lateral cell {np.array(other.cell)[:2, :2].round(3).tolist()} differs from the slab's "
            f"{np.array(slab.cell)[:2, :2].round(3).tolist()}: build it with cell_xy=slab's xy",
            "electrolyte",
        )


def _whole_molecules(atoms: Atoms) -> np.ndarray:
    """Positions with each molecule (``arrays['mol_id']`` >= 0) made whole across the boundaries."""
    pos = atoms.positions.copy()
    if "mol_id" not in atoms.arrays:
        return pos
    ids = atoms.arrays["mol_id"]
    for m in np.unique(ids[ids >= 0]):
        idx = np.flatnonzero(ids == m)
        d, _ = find_mic(pos[idx] - pos[idx[0]], atoms.cell, atoms.pbc)
        pos[idx] = pos[idx[0]] + d
    return pos


def interface(slab: Atoms, electrolyte: Atoms, gap: float = 2.0, vacuum: float = 0.0) -> Atoms:
    """Stack ``electrolyte`` above ``slab`` along z in one fully periodic cell.

    The electrolyte must share the slab's lateral cell (build it with ``cell_xy`` = the slab's xy
    lengths; ``periodic_z=False`` gives a flat liquid surface). Molecules are kept whole; the
    lowest electrolyte atom sits ``gap`` Å above the top slab layer, and the cell ends ``gap`` +
    ``vacuum`` Å above the highest electrolyte atom, so with ``vacuum=0`` the liquid also meets the
    slab's bottom face (periodic image) across ``gap``. Atoms whose pair threshold with the slab
    is larger than ``gap`` (Li+ vs Li metal, 2.0 Å) keep that threshold + 0.2 Å instead. The slab
    starts at z = 0.
    """
    if gap < 0 or vacuum < 0:
        raise UserError(f"gap and vacuum must be >= 0, got {gap}, {vacuum}", "gap")
    _check_lateral(slab, electrolyte)
    s_pos = slab.positions.copy()
    s_pos[:, 2] -= s_pos[:, 2].min()
    e_pos = _whole_molecules(electrolyte)
    # each electrolyte atom clears the slab by `gap`, or by its pair threshold + 0.2 Å if that is
    # larger (Li+ vs Li metal: 2.2 Å), on both sides of the liquid
    slab_species = set(slab.get_chemical_symbols())
    needed = np.array(
        [max(gap, max(min_distance_threshold(x, e) for x in slab_species) + 0.2) for e in electrolyte.get_chemical_symbols()]
    )
    rel = e_pos[:, 2] - e_pos[:, 2].min()
    e_pos[:, 2] += s_pos[:, 2].max() - e_pos[:, 2].min() + float(np.max(needed - rel))
    c = float(np.max(e_pos[:, 2] + needed) + vacuum)
    cell = np.array(slab.cell)
    cell[2] = [0.0, 0.0, c]
    atoms = Atoms(
        slab.get_chemical_symbols() + electrolyte.get_chemical_symbols(),
        positions=np.vstack([s_pos, e_pos]),
        cell=cell,
        pbc=True,
    )
    s_ids = np.full(len(slab), -1, dtype=int)
    e_ids = np.asarray(electrolyte.arrays.get("mol_id", np.arange(len(electrolyte))), dtype=int)
    atoms.arrays["mol_id"] = np.concatenate([s_ids, e_ids])
    atoms.wrap(pbc=[True, True, False])
    atoms.info.update({k: slab.info[k] for k in ("face",) if k in slab.info})
    atoms.info["molecules"] = dict(electrolyte.info.get("molecules", {}))
    atoms.info["gap"] = float(gap)
    atoms.info["vacuum"] = float(vacuum)
    return finish(atoms, "interface")


def li_interface(
    face: Literal["100", "110"] = "100",
    size: tuple[int, int] = (2, 2),
    layers: int = 3,
    n_solvent: int | None = 4,
    solvent: dict[str, float] | None = None,
    molarity: float = 1.0,
    density: float | None = None,
    gap: float = 2.0,
    vacuum: float = 0.0,
    seed: int = 0,
    a: float = LI_A,
) -> Atoms:
    """Li(face) slab + an electrolyte packed on its lateral cell (flat surface) in one call."""
    slab = li_slab(face, size=size, layers=layers, vacuum=10.0, a=a)
    cell = np.array(slab.cell)
    liquid = electrolyte_box(
        n_solvent=n_solvent,
        solvent=solvent,
        molarity=molarity,
        density=density,
        cell_xy=(float(cell[0, 0]), float(cell[1, 1])),
        seed=seed,
        periodic_z=False,
    )
    return interface(slab, liquid, gap=gap, vacuum=vacuum)


def _surface_top(atoms: Atoms) -> float:
    symbols = np.array(atoms.get_chemical_symbols())
    mask = symbols == "Li"
    if "mol_id" in atoms.arrays:
        mask &= atoms.arrays["mol_id"] == -1
    if not mask.any():
        raise UserError("no Li surface found (no Li atoms with mol_id -1)", "add_fragment")
    return float(atoms.positions[mask, 2].max())


def add_fragment(
    surface: Atoms,
    fragment: Fragment,
    seed: int = 0,
    height: float = 2.0,
    max_tries: int = 200,
) -> Atoms:
    """A copy of ``surface`` (Li slab or interface) with ``fragment`` placed on its top Li layer.

    The fragment gets a random orientation and lateral position; its lowest atom sits ``height`` Å
    above the topmost Li atom of the slab (atoms with ``mol_id`` -1, or all Li when there is no
    ``mol_id``). Solvent molecules (EC, DMC) closer than 1.8 Å to it are removed to make room
    (``info['removed_molecules']``; of up to 20 candidate placements the one removing the fewest
    wins); ions, slab atoms and earlier fragments are never removed, and
    positions that would clash with them are rejected. The cell stays neutral: fragments are
    neutral radicals/adsorbates (``info['charge']`` stays 0).
    """
    if fragment not in FRAGMENTS:
        raise UserError(f"unknown fragment {fragment!r}; known: {', '.join(FRAGMENTS)}", "fragment")
    if height <= 0:
        raise UserError(f"height must be positive, got {height}", "height")
    rng = np.random.default_rng(seed)
    geom = molecule_geometry(fragment)
    ztop = _surface_top(surface)
    symbols = np.array(surface.get_chemical_symbols())
    ids = np.asarray(surface.arrays.get("mol_id", np.full(len(surface), -1)), dtype=int)
    formula = {m: surface[ids == m].get_chemical_formula(mode="hill") for m in np.unique(ids[ids >= 0])}
    cell = np.array(surface.cell)
    fsym = geom.get_chemical_symbols()
    # a margin over the validation thresholds keeps the placement valid under later rattle/strain
    limit = np.array(
        [[max(FRAGMENT_CLEARANCE, min_distance_threshold(f, s) + PLACEMENT_MARGIN) for s in symbols] for f in fsym]
    )
    self_limit = np.array([[min_distance_threshold(f, g) + PLACEMENT_MARGIN for g in fsym] for f in fsym])
    self_plain = geom.get_all_distances()
    best: tuple[int, np.ndarray, set[int]] | None = None
    valid = 0
    for _ in range(max_tries):
        rot = Rotation.random(random_state=rng) if len(geom) > 1 else Rotation.identity()
        pos = rot.apply(geom.positions)
        frac = rng.random(2)
        pos[:, :2] += frac[0] * cell[0, :2] + frac[1] * cell[1, :2]
        pos[:, 2] += ztop + height - pos[:, 2].min()
        _, dist = get_distances(pos, surface.positions, cell=surface.cell, pbc=surface.pbc)
        _, self_mic = get_distances(pos, pos, cell=surface.cell, pbc=surface.pbc)
        if np.any((self_mic < self_plain - 1e-6) & (self_mic < np.maximum(self_limit, FRAGMENT_CLEARANCE))):
            continue  # the fragment would touch its own periodic image (small cell)
        clash_mols = set(ids[np.unique(np.nonzero(dist < limit)[1])].tolist())
        if any(m < 0 or formula.get(m) not in _SOLVENT_FORMULAS for m in clash_mols):
            continue  # would hit the slab, an ion or an earlier fragment
        valid += 1
        if best is None or len(clash_mols) < best[0]:
            best = (len(clash_mols), pos, clash_mols)
        if best[0] == 0 or valid >= PLACEMENT_CANDIDATES:
            break
    if best is not None:
        _, pos, clash_mols = best
        keep = ~np.isin(ids, list(clash_mols))
        out = surface[keep]
        frag = Atoms(fsym, positions=pos)
        out = out + frag
        new_id = max(int(ids.max()) + 1, 0) if len(ids) else 0
        out.arrays["mol_id"] = np.concatenate([ids[keep], np.full(len(frag), new_id)])
        molecules = dict(surface.info.get("molecules", {}))
        for m in clash_mols:
            name = _SOLVENT_FORMULAS[formula[m]]
            molecules[name] = molecules.get(name, 0) - 1
        out.info = dict(surface.info)
        out.info["molecules"] = {k: v for k, v in molecules.items() if v > 0}
        out.info["fragments"] = list(surface.info.get("fragments", [])) + [fragment]
        out.info["removed_molecules"] = int(surface.info.get("removed_molecules", 0)) + len(clash_mols)
        out.wrap(pbc=[True, True, False])
        return finish(out, f"add_fragment({fragment})")
    raise UserError(
        f"no room for {fragment} {height} Å above the surface after {max_tries} tries "
        "(more vacuum or a larger lateral cell)",
        "add_fragment",
    )
