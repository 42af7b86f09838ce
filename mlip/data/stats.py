"""Dataset statistics: counts per config_type, energy and force distributions, and per-species
reference energies (least squares over the data, or given isolated-atom energies)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.data.keys import LabelKeys
from mlip.data.species import DEFAULT_SPECIES
from mlip.errors import UserError


def composition_matrix(frames: Sequence[Atoms], species: Sequence[str]) -> np.ndarray:
    """[n_frames, n_species] counts of each species in each frame."""
    index = {s: k for k, s in enumerate(species)}
    mat = np.zeros((len(frames), len(species)))
    for f, atoms in enumerate(frames):
        for sym, count in Counter(atoms.get_chemical_symbols()).items():
            if sym not in index:
                raise UserError(f"element {sym} not in species {list(species)}", str(atoms.info.get("_source", f"frame {f}")))
            mat[f, index[sym]] = count
    return mat


def fit_reference_energies(
    frames: Sequence[Atoms],
    species: Sequence[str],
    method: str = "least_squares",
    isolated: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Per-species reference energies E0 (eV) so that E ≈ Σ_s n_s E0_s.

    ``least_squares`` fits them to the labelled energies (species absent from the data get 0);
    ``isolated`` takes the given isolated-atom energies, which must cover every species.
    """
    if method == "isolated":
        if not isolated:
            raise UserError("reference energies 'isolated' need the isolated-atom energy of every species")
        missing = [s for s in species if s not in isolated]
        if missing:
            raise UserError(f"isolated-atom energies missing for {', '.join(missing)}")
        return {s: float(isolated[s]) for s in species}
    if method != "least_squares":
        raise UserError(f"unknown reference-energy method {method!r} (use least_squares or isolated)")
    # frames whose energy is kept out of the loss (config_energy_weight 0) do not set E0 either
    labelled = [a for a in frames if "energy" in a.info and float(a.info.get("config_energy_weight", 1.0)) > 0]
    if not labelled:
        raise UserError("no labelled frames (with a non-zero energy weight) to fit reference energies to")
    mat = composition_matrix(labelled, species)
    energies = np.array([a.info["energy"] for a in labelled])
    present = mat.sum(axis=0) > 0
    coef, *_ = np.linalg.lstsq(mat[:, present], energies, rcond=None)
    e0 = np.zeros(len(species))
    e0[present] = coef
    return {s: float(e) for s, e in zip(species, e0)}


@dataclass
class Distribution:
    n: int
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values) -> "Distribution":
        v = np.asarray(values, dtype=float).ravel()
        if v.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(int(v.size), float(v.mean()), float(v.std()), float(v.min()), float(v.max()))


@dataclass
class DatasetStats:
    n_frames: int
    n_atoms: int
    per_config_type: dict[str, int]
    atoms_per_frame: Distribution
    elements: dict[str, int]
    energy_per_atom: Distribution
    residual_energy_per_atom: Distribution  # after subtracting the reference energies
    force_components: Distribution
    force_norms: Distribution
    reference_energies: dict[str, float]
    n_with_stress: int
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def dataset_statistics(
    frames: Sequence[Atoms],
    species: Sequence[str],
    e0_method: str = "least_squares",
    isolated: Mapping[str, float] | None = None,
) -> DatasetStats:
    if not frames:
        raise UserError("no frames to summarise")
    # energies kept out of the loss (config_energy_weight 0) are counted, not summarised
    labelled = [a for a in frames if "energy" in a.info and _weight(a, "config_energy_weight") > 0]
    e0 = (fit_reference_energies(labelled, species, e0_method, isolated) if labelled or e0_method == "isolated"
          else {s: float("nan") for s in species})
    mat = composition_matrix(labelled, species)
    e0_vec = np.array([e0[s] for s in species])
    energies = np.array([a.info["energy"] for a in labelled])
    n_at = np.array([len(a) for a in labelled])
    forces = [a.arrays["forces"] for a in frames if "forces" in a.arrays]
    f_all = np.concatenate(forces) if forces else np.zeros((0, 3))
    elements = Counter(sym for a in frames for sym in a.get_chemical_symbols())
    return DatasetStats(
        n_frames=len(frames),
        n_atoms=int(sum(len(a) for a in frames)),
        per_config_type=dict(sorted(Counter(str(a.info.get("config_type", "default")) for a in frames).items())),
        atoms_per_frame=Distribution.of([len(a) for a in frames]),
        elements={s: elements[s] for s in sorted(elements, key=lambda s: (s not in species, s))},
        energy_per_atom=Distribution.of(energies / n_at if len(n_at) else []),
        residual_energy_per_atom=Distribution.of((energies - mat @ e0_vec) / n_at if len(n_at) else []),
        force_components=Distribution.of(f_all),
        force_norms=Distribution.of(np.linalg.norm(f_all, axis=1)),
        reference_energies=e0,
        n_with_stress=sum(1 for a in frames if "stress" in a.info and _weight(a, "config_stress_weight") > 0),
        extra={"zero_energy_weight": sum(1 for a in frames if _weight(a, "config_energy_weight") == 0),
               "zero_stress_weight": sum(1 for a in frames if _weight(a, "config_stress_weight") == 0)},
    )


class StatsConfig(LabelKeys):
    """``seimlip data stats --config``: the label keys, the elements and how E0 is found."""

    species: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIES))
    e0_method: Literal["least_squares", "isolated"] = "least_squares"
    isolated_energies: dict[str, float] | None = None


def statistics_of(frames: Sequence[Atoms], cfg: StatsConfig | None = None) -> DatasetStats:
    """:func:`dataset_statistics` with the settings of ``cfg`` (``seimlip data stats``; default: all
    elements of the chemical space, least-squares E0)."""
    cfg = cfg or StatsConfig()
    return dataset_statistics(frames, cfg.species, cfg.e0_method, cfg.isolated_energies)


def _weight(atoms: Atoms, key: str) -> float:
    return float(atoms.info.get(key, 1.0))
