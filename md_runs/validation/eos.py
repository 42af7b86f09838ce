"""Equations of state: V0 per formula unit, a0 (cubic phases) and B0 by a Birch-Murnaghan fit.

The scan first brackets the minimum on a wide geometric grid of volumes (``search_volume_ratio``
x the experimental volume, extended outwards while the lowest energy sits on an edge), so a
minimum far from experiment (the shipped model's Li2O at 5.7 Å instead of 4.61 Å) is found. It
then samples ``fit_points`` volumes within +-``fit_span`` of the bracketed minimum and fits
``ase.eos.EquationOfState(..., eos="birchmurnaghan")``; if the fitted V0 falls outside the middle
half of that window, the window is recentred on it and refitted (at most twice). Cubic phases are scaled isotropically; Li2CO3
(C2/c) has its positions and cell shape relaxed at each volume
(``ase.filters.FrechetCellFilter(constant_volume=True)``), each volume starting from the shape
relaxed at its neighbour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms, units

from mlip.errors import UserError

EV_A3_TO_GPA = 1.0 / units.GPa
CalcFactory = Callable[[], object]

#: (builder repeat of the cell used for the scan, formula units per *unit* cell, cubic?)
PHASES = {
    "Li": {"formula": "Li", "fu_per_cell": 2, "cubic": True},
    "LiF": {"formula": "LiF", "fu_per_cell": 4, "cubic": True},
    "Li2O": {"formula": "Li2O", "fu_per_cell": 4, "cubic": True},
    "Li2CO3": {"formula": "Li2CO3", "fu_per_cell": 4, "cubic": False},
}


def phase_cell(phase: str, repeat: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """The experimental unit cell of ``phase`` (bcc Li conventional, or an SEI phase) repeated."""
    from md_runs.builders import li_bulk, sei_phase

    if phase == "Li":
        return li_bulk(repeat)
    if phase in ("LiF", "Li2O", "Li2CO3"):
        return sei_phase(phase, repeat)
    raise UserError(f"unknown crystal {phase!r}; known: {', '.join(PHASES)}")


def n_formula_units(atoms: Atoms, phase: str) -> int:
    from md_runs.analysis.density import formula_units

    return formula_units(atoms.get_chemical_symbols(), PHASES[phase]["formula"], phase)


@dataclass
class EosResult:
    phase: str
    n_atoms: int
    formula_units: int
    v0_A3_per_fu: float
    b0_GPa: float
    e0_eV_per_fu: float
    a0_A: float | None                       # cubic phases: conventional lattice constant
    volumes_A3_per_fu: list[float] = field(default_factory=list)   # the points fitted (all, cubic)
    energies_eV_per_fu: list[float] = field(default_factory=list)
    bracketed: bool = True
    notes: list[str] = field(default_factory=list)
    cell_A: list[list[float]] | None = None  # relaxed cell at V0 (Li2CO3), per repeat

    def to_json(self) -> dict:
        return asdict(self)


def _energy_at(template: Atoms, volume_ratio: float, calc, relax_shape: bool, fmax: float, steps: int,
               start: Atoms | None = None, energy_calc=None) -> tuple[float, Atoms]:
    """Energy of ``template`` scaled to ``volume_ratio`` x its volume (shape relaxed when asked)."""
    atoms = (start if start is not None else template).copy()
    target = template.get_volume() * volume_ratio
    atoms.set_cell(atoms.cell * (target / atoms.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
    atoms.calc = calc
    if relax_shape:
        from ase.filters import FrechetCellFilter
        from ase.optimize import FIRE

        FIRE(FrechetCellFilter(atoms, constant_volume=True), logfile=None).run(fmax=fmax, steps=steps)
    if energy_calc is not None:
        atoms = atoms.copy()
        atoms.calc = energy_calc
    energy = float(atoms.get_potential_energy())
    if not np.isfinite(energy):
        raise UserError(f"non-finite energy at V/V_exp = {volume_ratio:.3f}")
    return energy, atoms


def eos_scan(phase: str, calc_factory: CalcFactory, *, repeat: tuple[int, int, int] = (1, 1, 1),
             search_volume_ratio: tuple[float, float] = (0.55, 2.2), search_points: int = 14,
             fit_span: float = 0.08, fit_points: int = 9, relax_fmax: float = 0.02, relax_steps: int = 300,
             template: Atoms | None = None, formula_units: int | None = None,
             energy_factory: CalcFactory | None = None,
             progress: Callable[[str], None] | None = None) -> EosResult:
    """Scan, bracket and fit the E(V) curve of ``phase`` with the calculator ``calc_factory()``.

    ``energy_factory`` (default: the same calculator) gives the energies of the shape-relaxed
    structures (the reference method relaxes in one cell and is evaluated in a larger tiling).

    ``template`` (default: the experimental cell of ``phase``, repeated) and ``formula_units``
    let any crystal be scanned (tests use EMT metals and Lennard-Jones crystals).
    """
    from ase.eos import EquationOfState

    template = phase_cell(phase, repeat) if template is None else template.copy()
    info = PHASES.get(phase, {"cubic": True, "fu_per_cell": 1})
    n_fu = formula_units if formula_units is not None else n_formula_units(template, phase)
    relax = not info["cubic"]
    calc = calc_factory()
    ecalc = energy_factory() if energy_factory is not None else None
    done: dict[float, tuple[float, Atoms]] = {}      # the bracketing scan (isotropic)
    fitted: dict[float, tuple[float, Atoms]] = {}    # the fit window (shape relaxed if not cubic)

    def energy(ratio: float, fit: bool = False) -> float:
        key = round(float(ratio), 10)
        table = fitted if fit else done
        if key not in table:
            relax_here = relax and fit
            start = None
            if relax_here and fitted:  # continue from the shape relaxed at the nearest volume
                start = fitted[min(fitted, key=lambda r: abs(np.log(r / key)))][1]
            table[key] = _energy_at(template, key, calc, relax_here, relax_fmax, relax_steps, start,
                                    ecalc if relax_here else None)
            if progress:
                progress(f"{phase}: V/V_exp {key:.3f} -> {table[key][0] / n_fu:.5f} eV/f.u.")
        return table[key][0]

    lo, hi = search_volume_ratio
    if not 0 < lo < 1 < hi:
        raise UserError(f"search_volume_ratio must bracket 1, got {search_volume_ratio}")
    grid = list(np.geomspace(lo, hi, search_points))
    step = (hi / lo) ** (1.0 / (search_points - 1))
    bracketed = True
    order = sorted(grid, key=lambda r: abs(np.log(r)))  # from the experimental volume outwards
    for r in order:
        energy(r)
    for _ in range(8):  # extend while the minimum sits on an edge of what was scanned
        ratios = sorted(done)
        k = int(np.argmin([done[r][0] for r in ratios]))
        if 0 < k < len(ratios) - 1:
            break
        new = ratios[0] / step if k == 0 else ratios[-1] * step
        if new < 0.2 or new > 8.0:
            bracketed = False
            break
        energy(new)
    else:
        bracketed = False
    ratios = sorted(done)
    r_min = ratios[int(np.argmin([done[r][0] for r in ratios]))]
    notes: list[str] = []
    fit = None
    for attempt in range(3):
        window = r_min * (1.0 + np.linspace(-fit_span, fit_span, fit_points))
        order = sorted(window, key=lambda r: abs(r - r_min))  # outwards from the bracketed minimum
        for r in order:
            energy(r, fit=True)
        vols = np.array([r * template.get_volume() for r in window])
        ens = np.array([fitted[round(float(r), 10)][0] for r in window])
        try:
            import warnings

            with warnings.catch_warnings():  # a V0 outside the window is handled below
                warnings.simplefilter("ignore", UserWarning)
                v0, e0, b0 = EquationOfState(vols, ens, eos="birchmurnaghan").fit()
        except (RuntimeError, ValueError) as exc:
            notes.append(f"Birch-Murnaghan fit failed ({exc}); parabola instead")
            c = np.polyfit(vols, ens, 2)
            v0 = -c[1] / (2 * c[0])
            e0 = float(np.polyval(c, v0))
            b0 = 2 * c[0] * v0
        fit = (float(v0), float(e0), float(b0))
        # accept a V0 in the middle half of the window (B0 from points on both sides of it)
        if abs(v0 / template.get_volume() - r_min) <= 0.5 * fit_span * r_min or attempt == 2:
            break
        r_min = float(np.clip(v0 / template.get_volume(), ratios[0], ratios[-1]))
        notes.append("fitted V0 off the centre of the fit window; window recentred on it and refitted")
    v0, e0, b0 = fit
    if not bracketed:
        notes.append("no energy minimum within V/V_exp 0.2-8: the E(V) curve has no bound state")
    if b0 <= 0:
        notes.append("non-positive curvature at the minimum")
    table = fitted if relax else {**done, **fitted}
    ratios = sorted(table)
    vol_fu = [r * template.get_volume() / n_fu for r in ratios]
    en_fu = [table[r][0] / n_fu for r in ratios]
    # cubic: the conventional lattice constant of the (repeated) template
    a0 = float((v0 / np.prod(repeat)) ** (1.0 / 3.0)) if info["cubic"] else None
    cell = None
    if relax:
        nearest = min(fitted, key=lambda r: abs(r * template.get_volume() - v0))
        cell = (np.array(fitted[nearest][1].cell) * (v0 / fitted[nearest][1].get_volume()) ** (1 / 3)).tolist()
    return EosResult(phase=phase, n_atoms=len(template), formula_units=n_fu, v0_A3_per_fu=v0 / n_fu,
                     b0_GPa=b0 * EV_A3_TO_GPA, e0_eV_per_fu=e0 / n_fu, a0_A=a0, volumes_A3_per_fu=vol_fu,
                     energies_eV_per_fu=en_fu, bracketed=bracketed, notes=notes, cell_A=cell)


def birch_murnaghan(v: np.ndarray, e0: float, v0: float, b0: float, bp: float = 4.0) -> np.ndarray:
    """Third-order Birch-Murnaghan energy (eV) at volumes ``v`` (any consistent units; b0 in eV/vol)."""
    eta = (v0 / np.asarray(v, dtype=float)) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))
