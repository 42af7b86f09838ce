"""Reactive stability: the SEI-formation system (Li(100) | 1 M LiPF6 in EC) at 400 K with every
monitor on; none may trip.

It is the ``sei_formation`` protocol of :mod:`md_runs.protocols` (minimise, NVT equilibration,
NVT production; LAMMPS with the plugin pair style, so the conserved-energy drift monitor is active
besides close contacts, temperature runaway and, for committees, the force deviation). A
:class:`~md_runs.protocols.MonitorStop` is the failure this check looks for; the run directory
keeps the offending frame in ``candidates.extxyz`` (active-learning candidates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.validation.md import ModelSpec


def run_reactive(model: ModelSpec, settings, folder: Path, engine: str, seed: int) -> dict:
    from md_runs.protocols import MonitorStop, run_protocol
    from md_runs.protocols.monitors import drift_rate
    from md_runs.trajectory import read_run_info, read_thermo_csv
    from mlip.errors import UserError

    s = settings
    out: dict = {"temperature_K": s.temperature_K, "time_ps_requested": s.time_ps, "engine": engine}
    if not model.is_seimlip:
        out["note"] = "needs a seimlip model file (the protocol engines load it by name)"
        return out
    dt = s.timestep_fs
    production = max(1, int(round(s.time_ps * 1000 / dt)))
    thermo = max(1, int(round(10.0 / dt)))  # thermo (and monitor) rows every 10 fs
    traj = thermo * 5                       # frames every 50 fs
    restart = traj * max(1, 1000 // traj)   # a restart every ~1000 steps
    protocol = {
        "protocol": "sei_formation", "model": model.path, "engine": engine, "seed": seed,
        "temperatures_K": [s.temperature_K], "timestep_fs": dt,
        "system": {"face": "100", "size": list(s.size), "layers": s.layers, "n_solvent": s.n_solvent,
                   "solvent": {"EC": 1.0}, "molarity": s.molarity, "gap": 2.0},
        "steps": {"minimise": 200, "equilibrate": int(round(s.equilibrate_ps * 1000 / dt)), "production": production},
        "intervals": {"thermo": thermo, "dump": traj, "restart": restart},
        "monitors": {"check_every": thermo},
        "thermostat": {"tdamp_fs": 25.0, "pdamp_fs": 1000.0, "pressure_bar": 1.0, "barostat": "iso", "ftol": 0.05},
    }
    stopped = None
    try:
        runs = run_protocol(protocol, folder / "md", resume=True)
        run_dir = runs[0]
    except MonitorStop as stop:
        stopped = str(stop)
        run_dir = stop.run_dir
    except UserError as exc:
        stopped = f"engine error: {exc}"
        found = sorted((folder / "md").glob("li100_*"))
        run_dir = found[0] if found else None
    out["stopped"] = stopped
    if run_dir is not None and (run_dir / "run.json").is_file():
        info = read_run_info(run_dir)
        thermo = read_thermo_csv(run_dir / "thermo.csv")
        out.update(run_dir=str(run_dir), steps_done=info.steps_done, time_ps_done=info.steps_done * dt / 1000.0)
        if thermo:
            out["mean_temperature_K"] = float(np.mean(thermo["temperature_K"]))
            d = thermo.get("min_distance_A")
            if d is not None and np.isfinite(d).any():
                out["min_distance_A"] = float(np.nanmin(d))
            e = thermo.get("conserved_eV")
            if e is not None and np.isfinite(e).all() and len(e) > 1:
                from ase.io import read

                n = len(read(run_dir / "initial.extxyz"))
                out["n_atoms"] = n
                out["max_energy_drift_eV_atom"] = float(np.abs(e - e[0]).max() / n)
                out["energy_drift_meV_atom_ps"] = drift_rate(thermo["time_ps"], e, n)
            out["traces"] = {"time_ps": thermo["time_ps"].tolist(), "temperature_K": thermo["temperature_K"].tolist()}
    else:
        out.setdefault("time_ps_done", 0.0)
    return out
