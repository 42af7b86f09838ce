"""Safety monitors: close contacts, temperature runaway, energy drift, committee force deviation.

A monitor that fires stops the run cleanly: a final checkpoint is written, the offending frame
goes to ``candidates.extxyz`` in the run directory (active-learning candidates), and
:class:`MonitorStop` carries a one-line message up to the CLI (exit status
:data:`MONITOR_EXIT_CODE`). LAMMPS checks the limits inside each chunk with ``fix halt``
(fix IDs below) and the energy drift between chunks; the ASE engine checks every
``check_every`` steps.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
from ase import Atoms

from md_runs.protocols.config import MonitorConfig

MONITOR_EXIT_CODE = 3
CANDIDATES_FILE = "candidates.extxyz"

#: monitor name -> (LAMMPS fix halt ID, what it means)
MONITORS = {
    "min_distance": ("seimlip_halt_dist", "atoms closer than {limit:g} Å (closest pair {value:.3g} Å)"),
    "temperature": ("seimlip_halt_temp", "temperature runaway: {value:.4g} K > {limit:.4g} K"),
    "energy_drift": ("", "conserved energy drifted {value:.3g} eV/atom > {limit:g} eV/atom"),
    "force_deviation": ("seimlip_halt_dev", "committee force deviation {value:.3g} eV/Å > {limit:g} eV/Å"),
}


class MonitorStop(Exception):
    """A safety monitor stopped a run (not a user error: the run itself went bad)."""

    def __init__(self, monitor: str, message: str, run_dir: Path, step: int, checkpoint: Path | None):
        self.monitor, self.run_dir, self.step, self.checkpoint = monitor, Path(run_dir), step, checkpoint
        super().__init__(message)


def describe(monitor: str, value: float, limit: float) -> str:
    return MONITORS[monitor][1].format(value=value, limit=limit)


def temperature_limit(config: MonitorConfig, target_K: float) -> float | None:
    return None if config.max_temperature_ratio is None else config.max_temperature_ratio * target_K


def min_pair_distance(atoms: Atoms, within: float) -> float:
    """Closest pair distance (minimum image) if below ``within``, else ``inf``."""
    from ase.neighborlist import neighbor_list

    d = neighbor_list("d", atoms, float(within))
    return float(d.min()) if len(d) else float("inf")


def check_state(atoms: Atoms, config: MonitorConfig, target_K: float, temperature: float,
                max_force_dev: float | None) -> tuple[str, float, float] | None:
    """(monitor, value, limit) of the first limit ``atoms`` break, or None (ASE engine)."""
    t_max = temperature_limit(config, target_K)
    if config.min_distance_A is not None:
        d = min_pair_distance(atoms, config.min_distance_A)
        if d < config.min_distance_A:
            return "min_distance", d, config.min_distance_A
    if t_max is not None and temperature > t_max:
        return "temperature", temperature, t_max
    if config.max_force_dev_eV_A is not None and max_force_dev is not None and max_force_dev > config.max_force_dev_eV_A:
        return "force_deviation", max_force_dev, config.max_force_dev_eV_A
    return None


def check_drift(conserved: np.ndarray, n_atoms: int, config: MonitorConfig) -> tuple[str, float, float] | None:
    """Energy-drift monitor on a stage's conserved-energy series (first value = reference)."""
    if config.max_energy_drift_eV_atom is None or len(conserved) < 2:
        return None
    drift = float(np.abs(conserved - conserved[0]).max()) / max(n_atoms, 1)
    if drift > config.max_energy_drift_eV_atom:
        return "energy_drift", drift, config.max_energy_drift_eV_atom
    return None


def drift_rate(times_ps: np.ndarray, conserved: np.ndarray, n_atoms: int) -> float | None:
    """The drift of a conserved energy in meV per atom per ps: the slope of a straight-line fit
    (NVE's total energy, or a thermostat's conserved quantity); None for fewer than two times."""
    t, e = np.asarray(times_ps, dtype=float), np.asarray(conserved, dtype=float)
    if len(t) < 2 or np.ptp(t) <= 0 or not np.isfinite(e).all():
        return None
    return float(np.polyfit(t, e, 1)[0] / max(n_atoms, 1) * 1000.0)


def write_candidates(run_dir: str | os.PathLike, frames: Iterable[Atoms], monitor: str, message: str) -> Path:
    """Append the frames that made a monitor fire to ``candidates.extxyz`` (tagged with why)."""
    from ase.io import write

    path = Path(run_dir) / CANDIDATES_FILE
    plain = []
    for f in frames:
        atoms = Atoms(f.get_chemical_symbols(), positions=f.positions, cell=f.cell, pbc=f.pbc)
        atoms.wrap()
        atoms.info.update({"config_type": "md_monitor", "monitor": monitor, "reason": message})
        for key in ("step", "timestep"):
            if key in f.info:
                atoms.info["step"] = int(f.info[key])
        for key in ("c_seimlip_dev", "force_dev"):
            if key in f.arrays:
                atoms.arrays["force_dev"] = np.asarray(f.arrays[key], dtype=float)
        plain.append(atoms)
    with path.open("a") as fh:
        write(fh, plain, format="extxyz")
    return path
