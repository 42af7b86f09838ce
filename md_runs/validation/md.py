"""NPT runs for validation, on the project's engines, with the safety monitors on.

A seimlip model (file or shipped name) with ``engine: lammps`` (the default) runs through
:func:`md_runs.protocols.run_protocol` (LAMMPS with the plugin pair style): the structure is written to a
file, minimised, run in NPT as the protocol's equilibration stage (``fix npt ... tri`` for
crystals, ``iso`` for liquids) and finished by a short NVT production segment, so restarts,
resume after a kill and every monitor come with it. With ``engine: ase``, and for any other ASE
calculator (tests: EMT, Lennard-Jones), the run is ASE's ``LangevinBAOAB`` (Langevin thermostat, Langevin-Hoover barostat;
full cell or hydrostatic) with the same monitors checked every ``check_every`` steps.

A monitor that fires, or an engine that gives up (atoms lost when a box explodes), ends the run
early: the result keeps what was written and says why (``stopped``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from ase import Atoms

from mlip.errors import UserError


@dataclass
class ModelSpec:
    """The potential under test: a seimlip model (``path``: file or shipped name) and/or any ASE
    calculator (``factory``). ``name`` is what the report calls it."""

    name: str
    path: str | None = None
    factory: Callable[[], object] | None = None

    def calculator(self):
        if self.factory is not None:
            return self.factory()
        from mlip.deploy import load_calculator

        return load_calculator(self.path)

    @property
    def is_seimlip(self) -> bool:
        return self.path is not None and self.factory is None


@dataclass
class MDResult:
    frames: list[Atoms]
    times_ps: np.ndarray
    thermo: dict[str, np.ndarray]
    engine: str
    folder: Path
    stopped: str | None = None
    steps_done: int = 0
    meta: dict = field(default_factory=dict)


def run_npt(atoms: Atoms, model: ModelSpec, *, name: str, temperature_K: float, time_ps: float,
            timestep_fs: float, frame_ps: float, folder: Path, cell: Literal["full", "hydrostatic"] = "full",
            engine: str = "lammps", seed: int = 1, minimise_steps: int = 0, pressure_bar: float = 1.0,
            tdamp_fs: float = 100.0, pdamp_fs: float = 1000.0) -> MDResult:
    """NPT at ``temperature_K`` for ``time_ps`` (see the module docstring); frames every ``frame_ps``."""
    steps = max(1, int(round(time_ps * 1000.0 / timestep_fs)))
    dump = max(1, int(round(frame_ps * 1000.0 / timestep_fs)))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model.is_seimlip and engine == "lammps":
        return _protocol_npt(atoms, model, name, temperature_K, steps, dump, timestep_fs, folder, cell, engine,
                             seed, minimise_steps, pressure_bar, tdamp_fs, pdamp_fs)
    return _ase_npt(atoms, model, temperature_K, steps, dump, timestep_fs, folder, cell, seed, minimise_steps,
                    pressure_bar, tdamp_fs, pdamp_fs)


def _protocol_npt(atoms, model, name, temperature, steps, dump, dt, folder, cell, engine, seed, minimise,
                  pressure, tdamp, pdamp) -> MDResult:
    from ase.io import write

    from md_runs.lammps.dump import read_dump
    from md_runs.lammps.run import model_file
    from md_runs.protocols import MonitorStop, run_protocol
    from md_runs.trajectory import read_thermo_csv
    from mlip.utils import atomic_path

    structure = folder / f"{name}.extxyz"
    if not structure.exists():
        with atomic_path(structure) as tmp:
            write(tmp, atoms, format="extxyz")
    chunk = dump * max(1, 500 // dump)  # restarts every ~500 steps, a multiple of the dump interval
    production = dump  # a short NVT tail: the protocol's production stage (at least one frame)
    protocol = {
        "protocol": "li_transport", "model": model.path, "engine": engine, "seed": seed, "nprocs": 1,
        "temperatures_K": [float(temperature)], "timestep_fs": float(dt),
        "systems": [{"structure": str(structure.resolve()), "name": name, "equilibrate_ensemble": "npt"}],
        "steps": {"minimise": int(minimise), "equilibrate": int(steps), "production": int(production)},
        "intervals": {"thermo": dump, "dump": dump, "restart": chunk},
        "thermostat": {"tdamp_fs": tdamp, "pdamp_fs": pdamp, "pressure_bar": pressure,
                       "barostat": "tri" if cell == "full" else "iso", "ftol": 0.05},
    }
    stopped = None
    try:
        run_protocol(protocol, folder / "md", resume=True)
    except MonitorStop as stop:
        stopped = f"monitor: {stop}"
    except UserError as exc:  # e.g. LAMMPS: lost atoms when the box blows up
        stopped = f"engine error: {exc}"
    run_dir = folder / "md" / f"{name}_T{float(temperature):g}"
    species = [str(s) for s in model_file(model.path)[1]["species"]]
    frames: list[Atoms] = []
    thermo: dict[str, list] = {}
    for stage in (run_dir / "equilibration", run_dir):
        traj = stage / ("trajectory.lammpstrj" if engine == "lammps" else "trajectory.extxyz")
        if traj.is_file():
            try:
                if engine == "lammps":
                    got = read_dump(traj, species)
                else:
                    from ase.io import read

                    got = read(traj, index=":")
            except UserError:
                got = []
            frames += got[1:] if frames and got else got  # the production's frame 0 repeats the last
        for k, v in read_thermo_csv(stage / "thermo.csv").items():
            thermo.setdefault(k, []).extend(v.tolist())
    times = np.arange(len(frames)) * dump * dt / 1000.0
    th = {k: np.asarray(v, dtype=float) for k, v in thermo.items()}
    done = int(len(frames) - 1) * dump if frames else 0
    return MDResult(frames, times, th, engine, folder, stopped, done,
                    {"ensemble": f"NPT ({'fix npt tri' if cell == 'full' else 'fix npt iso'}"
                                 f"{', LAMMPS' if engine == 'lammps' else ', ASE Berendsen'}) "
                                 f"{steps} steps + NVT {production} steps", "run_dir": str(run_dir)})


def _ase_npt(atoms, model, temperature, steps, dump, dt, folder, cell, seed, minimise, pressure, tdamp,
             pdamp) -> MDResult:
    from ase import units
    from ase.md.langevinbaoab import LangevinBAOAB
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from md_runs.protocols.config import MonitorConfig
    from md_runs.protocols.monitors import check_state, describe

    atoms = atoms.copy()
    atoms.calc = model.calculator()
    if minimise:
        from ase.optimize import FIRE

        FIRE(atoms, logfile=None).run(fmax=0.05, steps=minimise)
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature, rng=rng)
    Stationary(atoms)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the heuristic barostat mass is announced as a warning
        dyn = LangevinBAOAB(atoms, timestep=dt * units.fs, temperature_K=temperature,
                            externalstress=-pressure * units.bar, hydrostatic=cell == "hydrostatic",
                            T_tau=tdamp * units.fs, P_tau=pdamp * units.fs, rng=rng)
    monitors = MonitorConfig()
    frames, rows = [atoms.copy()], {"time_ps": [0.0], "temperature_K": [atoms.get_temperature()],
                                    "volume_A3": [atoms.get_volume()],
                                    "potential_eV": [atoms.get_potential_energy()]}
    stopped, done = None, 0
    while done < steps:
        n = min(dump, steps - done)
        try:
            dyn.run(n)
        except Exception as exc:  # noqa: BLE001 - a calculator failing on a blown-up cell ends the run
            stopped = f"engine error: {type(exc).__name__}: {exc}"
            break
        done += n
        t = atoms.get_temperature()
        frame = atoms.copy()
        frame.calc = None
        frames.append(frame)
        rows["time_ps"].append(done * dt / 1000.0)
        rows["temperature_K"].append(t)
        rows["volume_A3"].append(atoms.get_volume())
        rows["potential_eV"].append(atoms.get_potential_energy())
        fired = check_state(atoms, monitors, temperature, t, None)
        if fired:
            stopped = f"monitor: step {done}: {describe(*fired)}"
            break
        if not math.isfinite(atoms.get_volume()) or atoms.get_volume() > 50 * frames[0].get_volume():
            stopped = f"step {done}: the cell exploded (volume x{atoms.get_volume() / frames[0].get_volume():.0f})"
            break
    times = np.asarray(rows["time_ps"])
    return MDResult(frames, times, {k: np.asarray(v, dtype=float) for k, v in rows.items()}, "ase", folder,
                    stopped, done, {"ensemble": f"NPT (ase LangevinBAOAB, {'full cell' if cell == 'full' else 'hydrostatic'})"})
