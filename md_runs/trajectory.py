"""The run-directory contract between the MD drivers (writers) and the analysis (reader).

A *run directory* is one production MD segment at one temperature, written by
``seimlip md run`` (``md_runs.protocols``) and read by ``seimlip analyze`` (``md_runs.analysis``).
It holds:

``run.json``
    :class:`RunInfo` (below): what was run, on which model, how often frames were written.
``trajectory.extxyz`` (ASE engine) or ``trajectory.lammpstrj`` (LAMMPS ``dump custom`` with
    ``id type xu yu zu`` — unwrapped positions — and optionally ``vx vy vz fx fy fz``)
    Frames in time order, continuous across restarts (a resumed run appends, never duplicates).
``thermo.csv``
    Columns ``time_ps, temperature_K, potential_eV, kinetic_eV, total_eV, pressure_bar,
    volume_A3`` (+ ``max_force_dev_eV_A`` for committee models), one row per thermo output.
``equilibration/thermo.csv`` (optional)
    The same columns for the NPT equilibration that preceded the production segment; the
    density analysis reads volumes from it.

A protocol writes several run directories (one per temperature and system) under its output
folder; ``seimlip analyze DIR`` finds every ``run.json`` below ``DIR``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms

from mlip.config import StrictModel
from mlip.errors import UserError

RUN_FILE = "run.json"
THERMO_COLUMNS = ("time_ps", "temperature_K", "potential_eV", "kinetic_eV", "total_eV",
                  "pressure_bar", "volume_A3")


class RunInfo(StrictModel):
    """Contents of ``run.json``."""

    protocol: Literal["sei_formation", "li_transport", "custom"]
    name: str                                   # e.g. "LiF_T600", "li100_ec_T400"
    system: str                                 # builder name / phase: "LiF", "Li2O", "li100|EC" ...
    engine: Literal["lammps", "ase"]
    ensemble: str                               # production ensemble: "nvt", "nvt-langevin", "npt"
    temperature_K: float
    timestep_fs: float
    frame_interval_ps: float                    # time between trajectory frames
    trajectory: str                             # file name inside the run directory
    species: list[str]                          # LAMMPS type k+1 -> species[k] (dump files)
    model: str                                  # model path or shipped name
    model_sha256: str | None = None
    surface_normal: int | None = None           # cell axis of the slab normal (interfaces), else None
    phases: dict[str, list[int]] = {}           # optional region name -> atom indices
    formula_unit: str | None = None             # SEI phase formula unit ("LiF", "Li2CO3") for bulk phases
    steps_done: int = 0                         # production steps completed (updated on restart)
    provenance: dict[str, Any] = {}


@dataclass
class Run:
    """A run directory read back: frames (time-ordered), their times in ps, thermo columns."""

    path: Path
    info: RunInfo
    frames: list[Atoms]
    times_ps: np.ndarray
    thermo: dict[str, np.ndarray] = field(default_factory=dict)


def write_run_info(run_dir: str | os.PathLike, info: RunInfo) -> None:
    from mlip.utils import write_json_atomic

    write_json_atomic(Path(run_dir) / RUN_FILE, info.model_dump())


def read_run_info(run_dir: str | os.PathLike) -> RunInfo:
    from mlip.config import validate

    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise UserError(f"not a run directory (no {RUN_FILE})", str(run_dir))
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"unreadable ({exc.__class__.__name__})", str(path)) from None
    return validate(RunInfo, data, str(path))


def read_thermo_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def read_run(run_dir: str | os.PathLike, index=slice(None)) -> Run:
    """Read a run directory (see the module docstring); one clear error if it is not one."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    traj = run_dir / info.trajectory
    if not traj.is_file():
        raise UserError(f"trajectory {info.trajectory} is missing", str(run_dir))
    if traj.suffix == ".lammpstrj":
        from md_runs.lammps.dump import read_dump

        frames = read_dump(traj, info.species, index)
    else:
        from ase.io import read

        try:
            frames = read(traj, index=index)
        except Exception as exc:  # ase raises many kinds on a corrupt file
            raise UserError(f"cannot read trajectory ({exc})", str(traj)) from None
        frames = frames if isinstance(frames, list) else [frames]
    n_all = len(frames) if index == slice(None) else None
    if n_all is not None:
        times = np.arange(len(frames)) * info.frame_interval_ps
    else:
        times = np.array([f.info.get("time_ps", np.nan) for f in frames], dtype=float)
    for f, t in zip(frames, times):
        f.info.setdefault("time_ps", float(t))
    return Run(run_dir, info, frames, np.array([f.info["time_ps"] for f in frames], dtype=float),
               read_thermo_csv(run_dir / "thermo.csv"))


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run directory at or below ``root`` (sorted), or a clear error if there is none."""
    root = Path(root)
    if not root.exists():
        raise UserError("no such directory", str(root))
    runs = sorted(p.parent for p in root.rglob(RUN_FILE))
    if not runs:
        raise UserError(f"no run directories ({RUN_FILE}) found", str(root))
    return runs
