"""Li(100)/(110) surface energies and the binding energy of EC on Li(100).

Every structure is built at the method's own bcc lattice constant ``a0`` (from its equation of
state) and relaxed by that method (FIRE, positions, fixed cell; both faces of the slab free):

- surface energy  gamma = (E_slab - N E_bulk) / (2 A), E_bulk per atom of bcc Li at a0 (J/m^2);
- EC binding      E_b = E(slab + EC) - E(slab) - E(EC), all three in the same cell; EC starts flat
  (ring parallel to the surface, carbonyl O down) 2.3 Å above a hollow site. E_b < 0 is bound.
  The relaxed EC is checked for bonds broken (ring opening): ``intact`` says whether every
  intramolecular bond of the starting molecule is still shorter than 1.3 x its starting length.

``energy_factory`` (default: the relaxing calculator) evaluates the final energies: the reference
method relaxes in one cell and is evaluated in a k-point-converged tiling of it.
:func:`energies_on` re-evaluates stored structures with another calculator (the model on the
reference method's relaxed geometries).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms

J_PER_M2 = 16.02176634  # eV/Å^2 -> J/m^2


@dataclass
class SurfaceResult:
    name: str                                  # "Li100", "Li110", "EC_on_Li100"
    value: float                               # J/m^2 (surfaces) or eV (binding)
    unit: str
    a0_A: float
    n_atoms: int
    energies_eV: dict[str, float] = field(default_factory=dict)
    structures: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    intact: bool | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _relax(atoms: Atoms, calc, fmax: float, steps: int) -> Atoms:
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = calc
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps)
    out = atoms.copy()
    out.calc = None
    return out


def _energy(atoms: Atoms, calc) -> float:
    atoms = atoms.copy()
    atoms.calc = calc
    return float(atoms.get_potential_energy())


def _plain(atoms: Atoms) -> dict:
    from md_runs.analysis.migration import image_dict

    return image_dict(atoms)


def bulk_energy(calc, a0: float) -> float:
    """Energy per atom of bcc Li at ``a0`` (2-atom conventional cell)."""
    from md_runs.builders import li_bulk

    return _energy(li_bulk((1, 1, 1), a=a0), calc) / 2.0


def slab(face: str, a0: float, size=(2, 2), layers: int = 6, vacuum: float = 12.0) -> Atoms:
    from md_runs.builders import li_slab

    atoms = li_slab(face, size=size, layers=layers, vacuum=vacuum, a=a0)
    atoms.info.clear()
    del atoms.arrays["mol_id"]
    return atoms


def surface_energy(face: str, calc_factory: Callable[[], object], a0: float, *, size=(2, 2), layers: int = 6,
                   vacuum: float = 12.0, fmax: float = 0.05, steps: int = 300,
                   energy_factory: Callable[[], object] | None = None,
                   bulk_energy_per_atom: float | None = None) -> SurfaceResult:
    """gamma of Li(``face``); ``bulk_energy_per_atom`` (default: computed at a0 with the same
    calculator) lets the reference method use the E0 of its k-point-converged equation of state."""
    calc = calc_factory()
    ecalc = energy_factory() if energy_factory else calc
    s = _relax(slab(face, a0, size, layers, vacuum), calc, fmax, steps)
    e_slab = _energy(s, ecalc)
    e_bulk = bulk_energy(ecalc, a0) if bulk_energy_per_atom is None else float(bulk_energy_per_atom)
    cell = np.array(s.cell)
    area = float(np.linalg.norm(np.cross(cell[0], cell[1])))
    gamma = (e_slab - len(s) * e_bulk) / (2 * area) * J_PER_M2
    return SurfaceResult(f"Li{face}", gamma, "J/m2", a0, len(s),
                         {"slab": e_slab, "bulk_per_atom": e_bulk, "area_A2": area}, {"slab": _plain(s)})


def ec_on_li100(a0: float, size=(3, 3), layers: int = 4, vacuum: float = 12.0, height: float = 2.3) -> tuple[Atoms, Atoms, Atoms]:
    """(slab, slab + EC, EC alone) in one cell: EC flat, carbonyl O down, above a hollow site."""
    from md_runs.builders import molecule_geometry

    clean = slab("100", a0, size, layers, vacuum)
    ec = molecule_geometry("EC").copy()
    # the ring lies in the xy plane of molecule_geometry; tilt the carbonyl (along +y) down a little
    ec.rotate(-20, "x", center="COM")
    top = clean.positions[:, 2].max()
    tops = clean.positions[clean.positions[:, 2] > top - 0.1]
    hollow = tops[0, :2] + np.array([a0 / 2, a0 / 2])
    ec.positions[:, :2] += hollow - ec.get_center_of_mass()[:2]
    ec.positions[:, 2] += top + height - ec.positions[:, 2].min()
    both = clean + ec
    alone = ec.copy()
    alone.set_cell(clean.cell)
    alone.pbc = True
    return clean, both, alone


def _intact(start: Atoms, end: Atoms) -> bool:
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j, d0 = neighbor_list("ijd", start, natural_cutoffs(start))
    d1 = np.array([end.get_distance(a, b, mic=True) for a, b in zip(i, j)])
    return bool(np.all(d1 < 1.3 * d0)) if len(d0) else True


def ec_binding(calc_factory: Callable[[], object], a0: float, *, size=(3, 3), layers: int = 4, vacuum: float = 12.0,
               fmax: float = 0.05, steps: int = 300, energy_factory: Callable[[], object] | None = None) -> SurfaceResult:
    calc = calc_factory()
    ecalc = energy_factory() if energy_factory else calc
    clean, both, alone = ec_on_li100(a0, size, layers, vacuum)
    clean_r = _relax(clean, calc, fmax, steps)
    both_r = _relax(both, calc, fmax, steps)
    alone_r = _relax(alone, calc, fmax, steps)
    e = {"slab": _energy(clean_r, ecalc), "slab_EC": _energy(both_r, ecalc), "EC": _energy(alone_r, ecalc)}
    n = len(clean)
    intact = _intact(both[n:], both_r[n:])
    result = SurfaceResult("EC_on_Li100", e["slab_EC"] - e["slab"] - e["EC"], "eV", a0, len(both), e,
                           {"slab": _plain(clean_r), "slab_EC": _plain(both_r), "EC": _plain(alone_r)},
                           intact=intact)
    if not intact:
        result.notes.append("EC did not stay intact on the surface (a bond stretched > 30 %): the number "
                            "includes its decomposition")
    return result


def energies_on(result_json: dict, calc_factory: Callable[[], object]) -> float:
    # the bulk energy is the other calculator's own, at the stored a0
    """The surface or binding energy of stored (relaxed) structures evaluated with another calculator."""
    from md_runs.analysis.migration import image_atoms

    calc = calc_factory()
    s = {k: _energy(image_atoms(v), calc) for k, v in result_json["structures"].items()}
    if result_json["name"].startswith("EC"):
        return s["slab_EC"] - s["slab"] - s["EC"]
    a0 = float(result_json["a0_A"])
    slab_atoms = image_atoms(result_json["structures"]["slab"])
    e_bulk = bulk_energy(calc, a0)
    cell = np.array(slab_atoms.cell)
    area = float(np.linalg.norm(np.cross(cell[0], cell[1])))
    return (s["slab"] - len(slab_atoms) * e_bulk) / (2 * area) * J_PER_M2
