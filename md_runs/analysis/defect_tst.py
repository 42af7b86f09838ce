"""Harmonic transition-state theory for the Li interstitial hop in LiF: a cross-check of the MD
Arrhenius, and the fallback value when MD sees too few hops.

The hop (cube centre -> next cube centre through the shared face, :mod:`md_runs.analysis.migration`)
is relaxed as a climbing-image NEB; its barrier is E_m. The attempt frequency follows Vineyard's
harmonic TST restricted to the hopping atom (its 3x3 mass-weighted Hessian by central finite
differences of the forces, the rest of the crystal held fixed)::

    nu* = (nu_1 nu_2 nu_3 at the minimum) / (nu_1 nu_2 at the saddle, its real modes)

The interstitial sites of rocksalt form a simple cubic lattice of spacing a/2 (Z = 6
neighbours), so with a hop rate Gamma = nu* exp(-E_m / k_B T) to each neighbour the interstitial's
diffusivity is D = Z Gamma l^2 / 6 = Gamma l^2 (uncorrelated hops). Approximations: harmonic,
one-atom Hessian (the lattice's relaxation during the hop enters E_m but not nu*), classical
(no quantum correction), 0 K barrier.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms

from md_runs.analysis.defects import K_B_EV

#: 1 eV/(Å² amu) in s⁻²
EV_A2_AMU = 1.602176634e-19 / 1e-20 / 1.66053906660e-27
APPROXIMATIONS = ("harmonic TST, one-atom Vineyard prefactor (hopping Li's 3x3 Hessian), classical, "
                  "0 K NEB barrier, uncorrelated hops on the simple cubic lattice of interstitial sites")


@dataclass
class HopTST:
    barrier_eV: float
    attempt_frequency_Hz: float
    hop_length_A: float
    coordination: int
    frequencies_min_THz: list[float]
    frequencies_saddle_THz: list[float]   # the first is imaginary (negative here) at a true saddle
    neb_converged: bool
    a0_A: float
    notes: list[str] = field(default_factory=list)
    approximations: str = APPROXIMATIONS

    def rate(self, temperature_k: float) -> float:
        """Hops per second to one neighbouring site."""
        return self.attempt_frequency_Hz * float(np.exp(-self.barrier_eV / (K_B_EV * temperature_k)))

    def diffusivity(self, temperature_k: float) -> float:
        """D (m²/s) = Z Γ l² / 6."""
        return self.coordination * self.rate(temperature_k) * (self.hop_length_A * 1e-10) ** 2 / 6.0

    def as_dict(self) -> dict:
        return asdict(self)


def atom_frequencies(atoms: Atoms, index: int, delta: float = 0.01) -> np.ndarray:
    """Signed harmonic frequencies (THz; negative = imaginary) of atom ``index`` alone."""
    hessian = np.zeros((3, 3))
    for k in range(3):
        forces = []
        for sign in (1.0, -1.0):
            work = atoms.copy()
            work.calc = atoms.calc
            work.positions[index, k] += sign * delta
            forces.append(work.get_forces()[index])
        hessian[k] = -(forces[0] - forces[1]) / (2 * delta)
    hessian = 0.5 * (hessian + hessian.T)
    eig = np.linalg.eigvalsh(hessian) * EV_A2_AMU / atoms.get_masses()[index]
    return np.sign(eig) * np.sqrt(np.abs(eig)) / (2 * np.pi) / 1e12


def interstitial_hop_tst(calc_factory: Callable[[], object], a0: float, repeat=(2, 2, 2), images: int = 3,
                         fmax: float = 0.05, steps: int = 300) -> HopTST:
    """NEB barrier and harmonic-TST prefactor of the LiF interstitial hop at lattice constant ``a0``."""
    from md_runs.analysis.migration import barrier, image_atoms

    result = barrier("interstitial", calc_factory, a0, repeat=tuple(repeat), images=images, fmax=fmax, steps=steps)
    index = len(result.images[0]["positions"]) - 1  # the interstitial is the last atom
    ends = image_atoms(result.images[0])
    saddle = image_atoms(result.images[int(np.argmax(result.energies_eV))])
    ends.calc, saddle.calc = calc_factory(), calc_factory()
    nu_min, nu_sad = atom_frequencies(ends, index), atom_frequencies(saddle, index)
    notes = list(result.notes)
    if np.any(nu_min <= 0):
        notes.append("the minimum has an imaginary mode: the interstitial site is not stable with this model")
    if int(np.sum(nu_sad < 0)) != 1:
        notes.append(f"the saddle has {int(np.sum(nu_sad < 0))} imaginary modes (expected 1)")
    real_min = np.abs(nu_min)
    real_sad = np.sort(np.abs(nu_sad[nu_sad > 0]))[-2:] if np.sum(nu_sad > 0) >= 2 else np.sort(np.abs(nu_sad))[-2:]
    prefactor = float(np.prod(real_min) / np.prod(real_sad)) * 1e12
    return HopTST(barrier_eV=result.barrier_eV, attempt_frequency_Hz=prefactor, hop_length_A=a0 / 2.0, coordination=6,
                  frequencies_min_THz=nu_min.round(4).tolist(), frequencies_saddle_THz=nu_sad.round(4).tolist(),
                  neb_converged=result.converged, a0_A=float(a0), notes=notes)


def hop_tst_from_dict(doc: dict) -> HopTST:
    return HopTST(**{k: v for k, v in doc.items() if k in HopTST.__dataclass_fields__})


__all__ = ["APPROXIMATIONS", "HopTST", "atom_frequencies", "hop_tst_from_dict", "interstitial_hop_tst"]
