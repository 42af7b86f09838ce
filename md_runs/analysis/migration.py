"""Li migration in LiF: vacancy and interstitial hop barriers by NEB (``ase.mep.NEB``).

Paths (rocksalt, Li at (0,0,0), F at (a/2,0,0), conventional cell ``a``; the supercell is
``repeat`` conventional cells of the experimental structure scaled to the method's own a0):

- **vacancy**: one Li removed at site A; its neighbour B (A + (a/2, a/2, 0)) hops into A.
- **interstitial**: an extra Li in the cube centre I1 = A + (a/4, a/4, a/4) (four Li and four F
  around it) hops to the next cube centre I2 = I1 + (a/2, 0, 0) through the shared face.

Both end points are relaxed (FIRE, positions only, fixed cell), the path is interpolated by
IDPP and relaxed as a climbing-image NEB. The barrier is the highest image energy minus the
initial energy. :func:`path_energies` evaluates any calculator on given images (the model on the
reference method's path, or the reference method on the model's), so two methods can be compared
on one path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Literal

import numpy as np
from ase import Atoms

from mlip.errors import UserError

Defect = Literal["vacancy", "interstitial"]


@dataclass
class NebResult:
    defect: str
    barrier_eV: float
    energies_eV: list[float]                 # relative to the initial image
    converged: bool
    steps: int
    n_atoms: int
    a0_A: float
    images: list[dict] = field(default_factory=list)  # {symbols, cell, positions} per image
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _site(atoms: Atoms, target: np.ndarray, symbol: str) -> int:
    """Index of the ``symbol`` atom nearest to ``target`` (minimum image)."""
    from ase.geometry import get_distances

    idx = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == symbol]
    _, dist = get_distances(target[None], atoms.positions[idx], cell=atoms.cell, pbc=True)
    return idx[int(np.argmin(dist[0]))]


def endpoints(defect: Defect, repeat: tuple[int, int, int] = (2, 2, 2), a0: float = 4.03) -> tuple[Atoms, Atoms]:
    """Unrelaxed initial and final structures of the hop (same atom order)."""
    from md_runs.builders import sei_phase

    bulk = sei_phase("LiF", repeat)
    bulk.set_cell(bulk.cell * (a0 / 4.03), scale_atoms=True)
    centre = bulk.cell.sum(axis=0) / 2.0
    a = a0
    li_a = _site(bulk, centre, "Li")
    pa = bulk.positions[li_a].copy()
    if defect == "vacancy":
        li_b = _site(bulk, pa + np.array([a / 2, a / 2, 0.0]), "Li")
        initial = bulk.copy()
        del initial[li_a]
        b = li_b - (1 if li_b > li_a else 0)
        final = initial.copy()
        final.positions[b] = pa
    elif defect == "interstitial":
        p1 = pa + np.array([a / 4, a / 4, a / 4])
        p2 = p1 + np.array([a / 2, 0.0, 0.0])
        initial = bulk + Atoms("Li", positions=[p1])
        final = bulk + Atoms("Li", positions=[p2])
    else:
        raise UserError(f"unknown defect {defect!r} (vacancy or interstitial)")
    for at in (initial, final):
        at.pbc = True
        at.info.pop("phase", None)
    return initial, final


def relax(atoms: Atoms, calc, fmax: float, steps: int) -> Atoms:
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = calc
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return atoms


def neb(initial: Atoms, final: Atoms, calc_factory: Callable[[], object], *, images: int = 3, fmax: float = 0.05,
        steps: int = 300, relax_ends: bool = True, defect: str = "", a0: float = float("nan"),
        progress: Callable[[str], None] | None = None) -> NebResult:
    """Climbing-image NEB between ``initial`` and ``final`` with one calculator per image."""
    from ase.mep import NEB
    from ase.optimize import FIRE

    notes = []
    if relax_ends:
        initial = relax(initial, calc_factory(), fmax, steps)
        final = relax(final, calc_factory(), fmax, steps)
        if progress:
            progress(f"{defect}: end points relaxed")
    band = [initial.copy()] + [initial.copy() for _ in range(images)] + [final.copy()]
    for image in band:
        image.calc = calc_factory()
    path = NEB(band, climb=True, k=0.1, method="improvedtangent")
    path.interpolate(method="idpp", mic=True)
    opt = FIRE(path, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    if not converged:
        notes.append(f"NEB not converged to {fmax} eV/Å in {steps} steps")
    e = np.array([im.get_potential_energy() for im in band])
    rel = e - e[0]
    if progress:
        progress(f"{defect}: NEB {'converged' if converged else 'stopped'} after {opt.nsteps} steps, "
                 f"barrier {rel.max():.3f} eV")
    if abs(rel[-1]) > 0.05:
        notes.append(f"end points differ by {rel[-1]:.3f} eV (expected equivalent by symmetry)")
    return NebResult(defect=defect, barrier_eV=float(rel.max()), energies_eV=rel.tolist(), converged=converged,
                     steps=int(opt.nsteps), n_atoms=len(initial), a0_A=float(a0),
                     images=[image_dict(im) for im in band], notes=notes)


def image_dict(atoms: Atoms) -> dict:
    return {"symbols": atoms.get_chemical_formula(mode="all"), "cell": np.array(atoms.cell).round(8).tolist(),
            "positions": atoms.positions.round(6).tolist()}


def image_atoms(image: dict) -> Atoms:
    return Atoms(image["symbols"], positions=image["positions"], cell=image["cell"], pbc=True)


def path_energies(images: list[dict], calc_factory: Callable[[], object]) -> list[float]:
    """Energies (eV, relative to the first) of a stored path's images with another calculator."""
    calc = calc_factory()
    out = []
    for image in images:
        atoms = image_atoms(image)
        atoms.calc = calc
        out.append(float(atoms.get_potential_energy()))
    return (np.array(out) - out[0]).tolist()


def barrier(defect: Defect, calc_factory: Callable[[], object], a0: float, *, repeat=(2, 2, 2), images: int = 3,
            fmax: float = 0.05, steps: int = 300, progress=None) -> NebResult:
    """The hop barrier of ``defect`` in LiF at lattice constant ``a0`` (the method's own)."""
    initial, final = endpoints(defect, repeat, a0)
    return neb(initial, final, calc_factory, images=images, fmax=fmax, steps=steps, defect=defect, a0=a0,
               progress=progress)
