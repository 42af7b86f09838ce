"""Chemical species in a frame: bond graph, connected components, formulas and names.

The rule (documented for users in :func:`classify`):

1. *Covalent* bonds join H, C, O, F and P atoms closer than the element-pair cutoff in
   :data:`BOND_CUTOFFS` (overridable). Li never bonds covalently.
2. Each connected component is a molecule or ion, named by its Hill formula through
   :data:`NAMES` (EC vs ring-opened EC by whether the graph has a ring); unknown formulas keep
   the formula as their name.
3. Inorganic anions — an isolated F, an isolated O, OH, CO3 — touching a Li (Li-O/F closer than
   ``li_anion_cutoff``) are SEI formula units: F -> LiF, O -> Li2O, OH -> LiOH, CO3 -> Li2CO3. One
   unit per anion, so the counts of the built crystals are their formula units. LEDC
   (C4H4O6, the dicarbonate anion) is an SEI species with or without its Li.
4. Each Li is ``Li(metal)`` when it touches no O/F, has Li neighbours within
   :data:`LI_METAL_CUTOFF` and is not an isolated ion; otherwise it is ionic and labelled with
   the SEI phase of an anion it touches, or ``Li+`` (solvated or bound to a molecule).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from md_runs.builders.validate import pair_key
from mlip.data.neighbors import neighbor_list
from mlip.errors import UserError

#: covalent bond cutoffs (Å) between the non-Li elements; pairs not listed never bond
BOND_CUTOFFS: dict[str, float] = {
    "H-H": 1.0, "C-H": 1.3, "H-O": 1.25, "F-H": 1.2, "H-P": 1.6,
    "C-C": 1.75, "C-O": 1.75, "C-F": 1.6, "C-P": 2.0,
    "O-O": 1.6, "O-P": 1.9, "F-P": 1.9, "F-O": 1.6, "F-F": 1.6, "P-P": 2.4,
}
#: Li-Li distance (Å) within which two Li count as metal neighbours
LI_METAL_CUTOFF = 3.3
COVALENT = ("H", "C", "O", "F", "P")

#: Hill formula -> name (acyclic/cyclic variants resolved in :func:`_name`)
NAMES: dict[str, str] = {
    "C3H4O3": "EC", "C3H6O3": "DMC", "F6P": "PF6-", "F5P": "PF5", "F3OP": "POF3", "C4H4O6": "LEDC",
    "C2H4": "C2H4", "CO": "CO", "CO2": "CO2", "CO3": "CO3", "F": "F", "O": "O", "HO": "OH",
    "FH": "HF", "H2": "H2", "H2O": "H2O", "H": "H", "C": "C", "P": "P",
}
#: anion name -> SEI phase it forms when it touches Li
SEI_OF_ANION: dict[str, str] = {"F": "LiF", "O": "Li2O", "OH": "LiOH", "CO3": "Li2CO3"}
#: SEI species and their volume per formula unit (Å^3): LiF/Li2O/Li2CO3 from the crystals built by
#: md_runs.builders.sei_phase, LiOH from its 1.46 g/cm^3, LEDC amorphous at 1.6 g/cm^3
SEI_VOLUME_A3: dict[str, float] = {"LiF": 16.36, "Li2O": 24.49, "LiOH": 27.2, "Li2CO3": 58.4, "LEDC": 168.0}
LI_PER_UNIT: dict[str, int] = {"LiF": 1, "Li2O": 2, "LiOH": 1, "Li2CO3": 2, "LEDC": 2}
LI_METAL, LI_ION = "Li(metal)", "Li+"


@dataclass
class FrameSpecies:
    """Species of one frame: counts by name and, per atom, the species it belongs to."""

    counts: Counter
    atom_species: np.ndarray      # [n_atoms] str: name of the species each atom belongs to
    component: np.ndarray         # [n_atoms] int: molecule id (Li: -1)


def bond_cutoffs(overrides: dict[str, float] | None = None) -> dict[str, float]:
    table = dict(BOND_CUTOFFS)
    for key, value in (overrides or {}).items():
        parts = key.split("-")
        if len(parts) != 2 or any(p not in COVALENT for p in parts) or value <= 0:
            raise UserError(f"bond cutoff {key}: {value} must be 'A-B': positive Å with A, B in {COVALENT}",
                            "bond_cutoffs")
        table[pair_key(*parts)] = float(value)
    return table


def _pairs(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = atoms.positions
    i, j, shifts = neighbor_list(pos, np.array(atoms.cell), atoms.pbc, cutoff)
    d = np.linalg.norm(pos[j] - pos[i] + shifts @ np.array(atoms.cell), axis=1)
    keep = i < j
    return i[keep], j[keep], d[keep]


def _name(formula: str, n_atoms: int, n_bonds: int) -> str:
    if formula == "C3H4O3" and n_bonds < n_atoms:
        return "ring_opened_EC"
    return NAMES.get(formula, formula)


def _component_names(symbols: np.ndarray, comp: np.ndarray, is_li: np.ndarray, bonds: Counter) -> dict[int, str]:
    """Name of every non-Li component from its composition (one Hill formula per distinct composition)."""
    elements, element_idx = np.unique(symbols[~is_li], return_inverse=True)
    ids, comp_idx = np.unique(comp[~is_li], return_inverse=True)
    table = np.zeros((len(ids), len(elements)), dtype=np.int64)
    np.add.at(table, (comp_idx, element_idx), 1)
    formulas: dict[tuple, str] = {}
    names: dict[int, str] = {}
    for c, row in zip(ids.tolist(), table):
        key = tuple(row)
        if key not in formulas:
            formulas[key] = Atoms("".join(f"{e}{k}" for e, k in zip(elements, row) if k)).get_chemical_formula("hill")
        names[c] = _name(formulas[key], int(row.sum()), bonds.get(c, 0))
    return names


def classify(atoms: Atoms, cutoffs: dict[str, float] | None = None, li_anion_cutoff: float = 2.6) -> FrameSpecies:
    """Species of one frame by the rule in the module docstring."""
    table = bond_cutoffs(cutoffs)
    symbols = np.array(atoms.get_chemical_symbols())
    n = len(atoms)
    i, j, d = _pairs(atoms, max(max(table.values()), LI_METAL_CUTOFF, li_anion_cutoff))
    si, sj = symbols[i], symbols[j]
    limit = np.array([table.get(pair_key(a, b), 0.0) for a, b in zip(si, sj)])
    covalent = d < limit
    graph = coo_matrix((np.ones(covalent.sum()), (i[covalent], j[covalent])), shape=(n, n))
    n_comp, comp = connected_components(graph, directed=False)
    is_li = symbols == "Li"
    comp = np.where(is_li, -1, comp)
    bonds = Counter(comp[i[covalent]].tolist())

    names = _component_names(symbols, comp, is_li, bonds)

    # Li contacts: Li-O/F (ionic) and Li-Li (metal)
    li_x = (si == "Li") ^ (sj == "Li")
    anion_side = np.where(si == "Li", j, i)
    li_side = np.where(si == "Li", i, j)
    touch = li_x & np.isin(np.where(si == "Li", sj, si), ("O", "F")) & (d < li_anion_cutoff)
    li_li = (si == "Li") & (sj == "Li") & (d < LI_METAL_CUTOFF)
    touched = {int(c) for c in comp[anion_side[touch]]}
    for c in list(names):
        if names[c] in SEI_OF_ANION and c in touched:
            names[c] = SEI_OF_ANION[names[c]]

    name_of = np.empty(n_comp, dtype=object)
    for c, name in names.items():
        name_of[c] = name
    labels = np.empty(n, dtype=object)
    labels[~is_li] = name_of[comp[~is_li]]
    n_li_nbr = np.bincount(np.concatenate([i[li_li], j[li_li]]), minlength=n)
    li_label: dict[int, str] = {}
    for li, c in zip(li_side[touch], comp[anion_side[touch]]):
        name = names[int(c)]
        if name in SEI_VOLUME_A3 or li_label.get(int(li)) in (None, LI_ION):
            li_label[int(li)] = name if name in SEI_VOLUME_A3 else LI_ION
    for li in np.flatnonzero(is_li):
        labels[li] = li_label.get(int(li), LI_METAL if n_li_nbr[li] > 0 else LI_ION)
    counts = Counter(names.values())
    counts.update(x for x in labels[is_li] if x in (LI_METAL, LI_ION))
    return FrameSpecies(counts, labels.astype(str), comp)


def species_counts(atoms: Atoms, cutoffs: dict[str, float] | None = None, li_anion_cutoff: float = 2.6) -> dict[str, int]:
    """Counts of every species in ``atoms`` (molecules, SEI formula units, Li(metal), Li+)."""
    return dict(classify(atoms, cutoffs, li_anion_cutoff).counts)
