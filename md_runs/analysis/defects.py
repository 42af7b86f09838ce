"""Point-defect energetics of Li in an SEI phase, with Li metal (the anode) as the Li reservoir.

Formation energies from relaxed supercells with one potential (any ASE calculator; the cell is
kept at the perfect crystal's, i.e. the dilute limit at that volume):

- interstitial: E_f = E(crystal + Li_i) − E(crystal) − μ_Li
- vacancy:      E_f = E(crystal − Li) − E(crystal) + μ_Li
- Frenkel pair: E_f = E(crystal with the pair) − E(crystal)        (no reservoir)

μ_Li is the energy per atom of relaxed bcc Li with the same potential (the SEI sits on the
anode, so Li exchanges with the metal). The equilibrium concentration follows in the dilute
limit as c(T) = n_sites / V × exp(−E_f / k_B T) / N_A (mol/m³), with n_sites / V the density of
the defect's sites (interstitial holes or Li sites). Approximations stated with every number:
neutral defects (as the reference method is run), no formation entropy or vibrational free
energy, no defect–defect interaction, 0 K energies used at temperature T.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

K_B_EV = 8.617333262e-5  # eV/K
#: where a transport protocol writes a defect run's energetics (md_runs.protocols.energetics)
ENERGETICS_FILE = "defect_energetics.json"
ENERGETICS_SCHEMA = "seimlip.defect-energetics/1"
AVOGADRO = 6.02214076e23
APPROXIMATIONS = ("dilute limit, neutral defect, no formation entropy or vibrational free energy, "
                  "0 K formation energy, Li metal (bcc, same potential) as the Li reservoir")


def relaxed(atoms: Atoms, calc, fmax: float = 0.02, steps: int = 400, cell: bool = False) -> Atoms:
    """A copy of ``atoms`` relaxed with ``calc`` (positions, and the cell with ``cell``), calc attached."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    import warnings

    work = atoms.copy()
    work.calc = calc
    target = FrechetCellFilter(work) if cell else work
    with warnings.catch_warnings():  # scipy's logm in the cell filter warns of a 1e-13 error
        warnings.filterwarnings("ignore", "logm result may be inaccurate", RuntimeWarning)
        FIRE(target, logfile=None).run(fmax=fmax, steps=steps)
    return work


def relaxed_energy(atoms: Atoms, calc, fmax: float = 0.02, steps: int = 400, cell: bool = False) -> float:
    """Energy (eV) after relaxing positions (and the cell, with ``cell``) with ``calc``."""
    return float(relaxed(atoms, calc, fmax, steps, cell).get_potential_energy())


def _head_energies(atoms: Atoms) -> np.ndarray | None:
    """The shallow-ensemble heads' energies of the last calculation (None for a one-head model)."""
    atoms.get_potential_energy()
    heads = getattr(atoms.calc, "results", {}).get("head_energies")
    return None if heads is None or np.size(heads) < 2 else np.asarray(heads, dtype=float)


def li_chemical_potential(calc, a: float = 3.44) -> float:
    """Energy per atom (eV) of bcc Li relaxed (cell included) with ``calc``."""
    metal = _li_metal(calc, a)
    return float(metal.get_potential_energy()) / len(metal)


def _li_metal(calc, a: float = 3.44) -> Atoms:
    from ase.build import bulk

    return relaxed(bulk("Li", "bcc", a=a, cubic=True).repeat((3, 3, 3)), calc, cell=True)


def formation_energy(kind: str, e_defect: float, e_perfect: float, mu_li: float = 0.0) -> float:
    """E_f (eV) of a Li ``interstitial``, ``vacancy`` or ``frenkel`` pair (module doc)."""
    if kind == "interstitial":
        return e_defect - e_perfect - mu_li
    if kind == "vacancy":
        return e_defect - e_perfect + mu_li
    if kind == "frenkel":
        return e_defect - e_perfect
    raise ValueError(f"unknown defect kind {kind!r}")


def equilibrium_concentration(formation_energy_ev: float, temperature_k: float, site_density_m3: float) -> float:
    """c(T) in mol/m³ = n_sites/V · exp(−E_f / k_B T) / N_A (dilute limit)."""
    if temperature_k <= 0 or site_density_m3 <= 0:
        raise ValueError("temperature and site density must be positive")
    return float(site_density_m3 * np.exp(-formation_energy_ev / (K_B_EV * temperature_k)) / AVOGADRO)


@dataclass
class DefectEnergetics:
    phase: str
    kind: str
    formation_energy_ev: float
    formation_energy_std_ev: float | None   # spread over the model's ensemble heads (None: one head)
    mu_li_ev: float
    e_perfect_ev: float
    e_defect_ev: float
    n_atoms_perfect: int
    a0_A: float                              # the model's lattice constant (first cell vector / repeat)
    site_density_m3: float
    approximations: str = APPROXIMATIONS

    def concentration(self, temperature_k: float) -> float:
        return equilibrium_concentration(self.formation_energy_ev, temperature_k, self.site_density_m3)

    def as_dict(self) -> dict:
        return asdict(self)


def defect_energetics(calc, phase: str = "LiF", kind: str = "interstitial", repeat=(2, 2, 2), seed: int = 0,
                      mu_li: float | None = None, fmax: float = 0.02) -> DefectEnergetics:
    """Relax the perfect supercell (cell too), then the defect cell at that cell, and return E_f.

    The site density counts interstitial holes (interstitial) or Li sites (vacancy, Frenkel) of
    the perfect crystal per volume. With a shallow-ensemble model E_f is also evaluated per head
    on the same relaxed structures; their spread is ``formation_energy_std_ev``."""
    from md_runs.builders import interstitial_sites, sei_defect, sei_phase

    perfect = relaxed(sei_phase(phase, tuple(repeat)), calc, fmax, cell=True)
    e_perfect, h_perfect = float(perfect.get_potential_energy()), _head_energies(perfect)
    defect = sei_defect(phase, tuple(repeat), kind, seed=seed)  # type: ignore[arg-type]
    defect.set_cell(perfect.cell, scale_atoms=True)  # the model's own lattice
    defect = relaxed(defect, calc, fmax)
    e_defect, h_defect = float(defect.get_potential_energy()), _head_energies(defect)
    mu, h_mu = float(mu_li or 0.0), None
    if mu_li is None and kind != "frenkel":
        metal = _li_metal(calc)
        mu, h_mu = float(metal.get_potential_energy()) / len(metal), _head_energies(metal)
        h_mu = None if h_mu is None else h_mu / len(metal)
    std = None
    if h_perfect is not None and h_defect is not None and (h_mu is not None or kind == "frenkel"):
        std = float(np.std(formation_energy(kind, h_defect, h_perfect, 0.0 if h_mu is None else h_mu)))
    unit = sei_phase(phase)
    n_sites_unit = len(interstitial_sites(unit)) if kind == "interstitial" else unit.get_chemical_symbols().count("Li")
    volume_unit_m3 = perfect.get_volume() / np.prod(repeat) * 1e-30
    return DefectEnergetics(phase=phase, kind=kind, formation_energy_ev=formation_energy(kind, e_defect, e_perfect, mu),
                            formation_energy_std_ev=std, mu_li_ev=mu, e_perfect_ev=e_perfect, e_defect_ev=e_defect,
                            n_atoms_perfect=len(perfect), a0_A=float(perfect.cell.lengths()[0] / repeat[0]),
                            site_density_m3=n_sites_unit / volume_unit_m3)


__all__ = ["APPROXIMATIONS", "ENERGETICS_FILE", "ENERGETICS_SCHEMA", "DefectEnergetics", "defect_energetics", "equilibrium_concentration",
           "formation_energy", "li_chemical_potential", "relaxed", "relaxed_energy"]
