"""Exploration: MD with the current committee, one run per (system, temperature).

Each snapshot keeps the committee's ``max_force_dev`` (eV/Å) in ``info``. Everything is seeded
from (campaign seed, iteration, system, temperature), so an iteration explores the same frames
when it is rerun after a stop. A system with ``pressure_bar`` runs isotropic NPT (liquids find their
own density, a crystal near melting its own volume), the others NVT in the built cell. Engines: ASE
Langevin (NPT: ``LangevinBAOAB`` with a Langevin-Hoover cell) with the committee calculator, or LAMMPS
(``md_runs.lammps.run_lammps``; a snapshot's deviation is the ``max_devi_f`` of its step in the
run's DeePMD-style ``model_devi.out``, as DP-GEN reads it; ``max_devi_e`` is kept beside it).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms

from active_learning.campaign.config import ExplorationConfig, ExplorationSystem


def run_seed(seed: int, iteration: int, system: str, temperature: float) -> int:
    return zlib.crc32(repr((seed, iteration, system, float(temperature))).encode()) & 0x7FFFFFFF


def initial_structure(system: ExplorationSystem, seed: int) -> Atoms:
    from md_runs.builders import build_from_spec

    spec = dict(system.build)
    spec.setdefault("config_type", system.name)
    spec.setdefault("seed", seed % 100_000)
    atoms = build_from_spec(spec, where=f"exploration.systems[{system.name}]")
    atoms.info.setdefault("config_type", system.name)
    return atoms


def _ase_md(atoms: Atoms, model: Path, config: ExplorationConfig, temperature: float, seed: int,
            pressure_bar: float | None = None) -> list[Atoms]:
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.langevinbaoab import LangevinBAOAB
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from mlip.deploy import load_calculator

    atoms = atoms.copy()
    atoms.calc = load_calculator(str(model), device="cpu")
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    if pressure_bar is None:
        dyn = Langevin(atoms, config.timestep_fs * units.fs, temperature_K=temperature,
                       friction=config.friction / units.fs, rng=rng)
    else:  # stress = -pressure (ASE sign)
        dyn = LangevinBAOAB(atoms, config.timestep_fs * units.fs, temperature_K=temperature,
                            externalstress=-pressure_bar * units.bar, hydrostatic=True,
                            T_tau=1.0 / config.friction * units.fs, P_tau=config.pdamp_fs * units.fs, rng=rng)
    frames = []
    for _ in range(config.steps // config.interval):
        dyn.run(config.interval)
        atoms.get_forces()
        dev = float(atoms.calc.results.get("max_force_dev", np.nan))
        snap = atoms.copy()
        snap.calc = None
        snap.info["max_force_dev"] = dev
        frames.append(snap)
        if not np.isfinite(dev) or (config.stop_force_dev is not None and dev > config.stop_force_dev):
            break
    return frames


def _lammps_md(atoms: Atoms, model: Path, config: ExplorationConfig, temperature: float, seed: int,
               workdir: Path, pressure_bar: float | None = None) -> list[Atoms]:
    from md_runs.lammps import run_lammps

    ensemble = {"ensemble": "nvt-langevin"} if pressure_bar is None else {
        "ensemble": "npt", "pressure_bar": pressure_bar, "barostat": "iso", "pdamp_fs": config.pdamp_fs}
    protocol = {**ensemble, "steps": config.steps, "timestep_fs": config.timestep_fs,
                "temperature": temperature, "seed": seed % 900_000_000 + 1, "dump_every": config.interval,
                "thermo_every": config.interval, "halt_force_dev": config.stop_force_dev}
    run = run_lammps(atoms, model, protocol, workdir)
    devi = run.model_devi()
    by_step = {} if devi is None else {int(s): k for k, s in enumerate(devi["step"])}
    frames = []
    for snap in run.frames()[1:]:  # the first dump is the start structure
        row = by_step.get(int(snap.info.get("timestep", -1)))
        if row is not None:
            snap.info["max_force_dev"] = float(devi["max_devi_f"][row])
            snap.info["max_devi_e"] = float(devi["max_devi_e"][row])
        else:  # no model_devi line for this step: the dump's per-atom column
            dev = snap.arrays.get("c_seimlip_dev")
            snap.info["max_force_dev"] = float(np.max(dev)) if dev is not None else float("nan")
        snap.info["config_type"] = atoms.info.get("config_type", "explore")
        for key in list(snap.arrays):
            if key not in ("numbers", "positions"):
                del snap.arrays[key]
        snap.calc = None
        frames.append(snap)
    return frames


def explore(model: Path, config: ExplorationConfig, seed: int, iteration: int, workdir: Path,
            progress: Callable[[], None] | None = None) -> list[Atoms]:
    """Snapshots of every (system, temperature) run, each with ``info['max_force_dev']``, a
    ``_campaign_source`` naming its run and the ``_reference_volume`` of its start structure."""
    frames: list[Atoms] = []
    for system in config.systems:
        for temperature in system.temperatures:
            s = run_seed(seed, iteration, system.name, temperature)
            start = initial_structure(system, s)
            if config.engine == "lammps":
                out = _lammps_md(start, model, config, temperature, s, workdir / f"{system.name}_{temperature:g}K",
                                 system.pressure_bar)
            else:
                out = _ase_md(start, model, config, temperature, s, system.pressure_bar)
            volume = start.get_volume() if start.cell.rank == 3 else None
            for k, snap in enumerate(out):
                snap.info["_campaign_source"] = f"explore:iter{iteration}:{system.name}:{temperature:g}K:{k}"
                snap.info["_reference_volume"] = volume
                snap.info["config_type"] = system.name
            frames.extend(out)
            if progress is not None:
                progress()
    return frames


__all__ = ["explore", "initial_structure", "run_seed"]
