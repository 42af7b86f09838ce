"""ASE engine for protocols (the fallback when LAMMPS is not wanted): Langevin NVT, Berendsen NPT.

Checkpoints ``restart/step_<N>.extxyz`` (positions, momenta, cell) plus a ``.json`` sidecar with
the thermostat's random-number state are written atomically every ``intervals.restart`` steps.
On resume the extxyz trajectory is cut back to the checkpoint's step and appended to.
Monitors are checked every ``monitors.check_every`` steps (no energy drift: Langevin dynamics
conserves no energy).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.io import read, write

from md_runs.protocols.config import ProtocolBase
from md_runs.protocols.files import (EXTRA_COLUMNS, prune_restarts, readable_restarts, restart_name, truncate_extxyz,
                                     write_thermo_csv)
from md_runs.protocols.monitors import MonitorStop, check_state, describe, min_pair_distance, write_candidates
from md_runs.protocols.stage import ProgressHook, Stage
from md_runs.trajectory import read_thermo_csv
from mlip.utils import atomic_path


def _readable_checkpoint(path: Path) -> bool:
    """Whether a checkpoint (extxyz with momenta, and its random-state sidecar if any) reads back."""
    try:
        atoms = read(path)
        sidecar = path.with_suffix(".json")
        if sidecar.exists():
            json.loads(sidecar.read_text())
        return bool(len(atoms)) and np.isfinite(atoms.positions).all()
    except Exception:  # ase raises many kinds for a truncated or garbled file
        return False


def _write_atomic(path: Path, atoms: Atoms) -> None:
    with atomic_path(path) as tmp:
        write(tmp, atoms, format="extxyz")


class AseEngine:
    trajectory_name = "trajectory.extxyz"

    def __init__(self, config: ProtocolBase):
        from mlip.deploy import load_calculator

        self.config = config
        self.calc = load_calculator(config.model)
        self.committee = self.calc.n_members > 1

    def prepare(self, atoms: Atoms, folder: Path) -> Path:
        path = folder / "initial.extxyz"
        if not path.exists():
            _write_atomic(path, Atoms(atoms.get_chemical_symbols(), positions=atoms.positions,
                                      cell=atoms.cell, pbc=atoms.pbc))
        return path

    def minimise(self, state: Path, folder: Path, max_iterations: int) -> Path:
        from ase.optimize import FIRE

        final = folder / "final.extxyz"
        if final.exists():
            return final
        if max_iterations <= 0:
            return state
        folder.mkdir(parents=True, exist_ok=True)
        atoms = read(state)
        atoms.calc = self.calc
        FIRE(atoms, logfile=str(folder / "minimise.log")).run(fmax=self.config.thermostat.ftol, steps=max_iterations)
        _write_atomic(final, Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc))
        return final

    def _dynamics(self, atoms: Atoms, stage: Stage, rng: np.random.Generator):
        from ase.constraints import FixCom

        c = self.config
        dt = c.timestep_fs * units.fs
        atoms.set_constraint(FixCom())  # no centre-of-mass drift (Li MSDs)
        if stage.ensemble == "nvt":
            from ase.md.langevin import Langevin

            return Langevin(atoms, timestep=dt, temperature_K=stage.temperature,
                            friction=1.0 / (c.thermostat.tdamp_fs * units.fs), fixcm=False, rng=rng)
        from ase.md.nptberendsen import NPTBerendsen

        return NPTBerendsen(atoms, timestep=dt, temperature_K=stage.temperature,
                            pressure_au=c.thermostat.pressure_bar * units.bar, taut=c.thermostat.tdamp_fs * units.fs,
                            taup=c.thermostat.pdamp_fs * units.fs, compressibility_au=4.57e-5 / units.bar)

    def _thermo_row(self, atoms: Atoms, step: int) -> dict[str, float]:
        pot, kin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        stress = atoms.get_stress(include_ideal_gas=True)
        mon = self.config.monitors
        closest = min_pair_distance(atoms, mon.min_distance_A) if mon.min_distance_A else math.inf
        row = {"time_ps": step * self.config.timestep_fs / 1000.0, "temperature_K": atoms.get_temperature(),
               "potential_eV": pot, "kinetic_eV": kin, "total_eV": pot + kin,
               "pressure_bar": -float(np.mean(stress[:3])) / units.bar, "volume_A3": atoms.get_volume(),
               "step": step, "conserved_eV": math.nan, "min_distance_A": closest if math.isfinite(closest) else math.nan}
        if self.committee:
            row["max_force_dev_eV_A"] = float(self.calc.results["max_force_dev"])
        return row

    def md(self, stage: Stage, state: Path, progress: ProgressHook) -> Path:
        from ase.md.velocitydistribution import Stationary, thermalize_momenta

        c, folder = self.config, stage.folder
        folder.mkdir(parents=True, exist_ok=True)
        final, restarts, traj = folder / "final.extxyz", folder / "restart", folder / self.trajectory_name
        done = readable_restarts(restarts, _readable_checkpoint)
        step = done[-1][0] if done else 0
        if final.exists() and step >= stage.steps:
            progress(stage.name, stage.steps, stage.steps)
            return final
        rng = np.random.default_rng(stage.seed)
        if done:
            atoms = read(done[-1][1])
            sidecar = done[-1][1].with_suffix(".json")
            if sidecar.exists():
                rng.bit_generator.state = json.loads(sidecar.read_text())
        else:
            atoms = read(state)
            if stage.init_velocities or not np.any(atoms.get_momenta()):
                thermalize_momenta(atoms, stage.temperature, rng=rng)
                Stationary(atoms)
        truncate_extxyz(traj, step if done else -1)
        old = read_thermo_csv(folder / "thermo.csv") if done else {}
        keep = old["step"] <= step if old else []
        rows: dict[str, list[float]] = {k: list(v[keep]) for k, v in old.items()}
        atoms.calc = self.calc
        dyn = self._dynamics(atoms, stage, rng)
        iv, mon = c.intervals, c.monitors
        block = math.gcd(math.gcd(iv.thermo, iv.dump), math.gcd(iv.restart, mon.check_every))
        progress(stage.name, step, stage.steps)

        def record(s: int) -> None:
            if s % iv.thermo == 0 or s == stage.steps:
                for k, v in self._thermo_row(atoms, s).items():
                    rows.setdefault(k, []).append(v)
            if s % iv.dump == 0:
                frame = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell,
                              pbc=atoms.pbc, momenta=atoms.get_momenta())
                frame.info.update(step=s, time_ps=s * c.timestep_fs / 1000.0)
                with traj.open("a") as fh:
                    write(fh, frame, format="extxyz")

        def checkpoint(s: int) -> Path:
            restarts.mkdir(exist_ok=True)
            path = restarts / restart_name(s, "extxyz")
            with atomic_path(path.with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps(rng.bit_generator.state, default=int))
            snapshot = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell,
                             pbc=atoms.pbc, momenta=atoms.get_momenta())
            snapshot.info["step"] = s
            _write_atomic(path, snapshot)
            prune_restarts(restarts)
            write_thermo_csv(folder / "thermo.csv", {k: np.array(v) for k, v in rows.items()},
                             EXTRA_COLUMNS + ("max_force_dev_eV_A",))
            if stage.on_chunk is not None:
                stage.on_chunk(s)
            progress(stage.name, s, stage.steps)
            return path

        if step == 0:
            record(0)
        while step < stage.steps:
            dyn.run(min(block, stage.steps - step))
            step = min(step + block, stage.steps)
            record(step)
            if step % mon.check_every == 0:
                dev = float(self.calc.results["max_force_dev"]) if self.committee else None
                fired = check_state(atoms, mon, stage.temperature, atoms.get_temperature(), dev)
                if fired:
                    path = checkpoint(step)
                    message = describe(*fired)
                    frame = atoms.copy()
                    frame.info["step"] = step
                    if self.committee:
                        frame.arrays["force_dev"] = np.asarray(self.calc.results["force_dev"], dtype=float)
                    cand = write_candidates(stage.run_dir, [frame], fired[0], message)
                    raise MonitorStop(fired[0], f"{stage.run_dir.name} ({stage.name}, step {step}): {message}; "
                                      f"checkpoint {path}; candidate frame in {cand}", stage.run_dir, step, path)
            if step % iv.restart == 0 or step == stage.steps:
                checkpoint(step)
        final_atoms = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell,
                            pbc=atoms.pbc, momenta=atoms.get_momenta())
        _write_atomic(final, final_atoms)
        return final
