"""Run a protocol: for each (system, temperature) build, minimise, equilibrate, produce.

Layout of one run directory (the contract of :mod:`md_runs.trajectory`, plus resume state)::

    run.json  thermo.csv  trajectory.lammpstrj|extxyz  restart/  logs/  final.data|extxyz
    initial.extxyz  minimise/  equilibration/{thermo.csv, trajectory.*, restart/}
    defect_energetics.json  (defect systems: md_runs.protocols.energetics)
    candidates.extxyz  (only after a monitor stopped the run)
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.io import read
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from md_runs.protocols.config import ProtocolConfig, load_protocol
from md_runs.protocols.monitors import MonitorStop
from md_runs.protocols.thermo_plot import plot_thermo
from md_runs.protocols.stage import Engine, Stage, make_engine
from md_runs.protocols.systems import RunPlan, interface_phases, make_plans
from md_runs.trajectory import RUN_FILE, RunInfo, read_run_info, write_run_info
from mlip.config import dump_config
from mlip.utils import atomic_path, provenance, seed_everything, write_text_atomic


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_finished(run_dir: Path, steps: int) -> bool:
    """A run directory whose production reached ``steps`` (re-running skips it)."""
    if not (run_dir / RUN_FILE).is_file():
        return False
    info = read_run_info(run_dir)
    return info.provenance.get("status") == "finished" and info.steps_done >= steps


def _initial(plan: RunPlan, run_dir: Path) -> Atoms:
    """The run's starting structure: built once and kept as ``initial.extxyz`` (with mol_id)."""
    from ase.io import write

    path = run_dir / "initial.extxyz"
    if not path.exists():
        atoms = plan.build()
        with atomic_path(path) as tmp:
            write(tmp, atoms, format="extxyz")
    return read(path)


def _run_info(config: ProtocolConfig, plan: RunPlan, engine: Engine, atoms: Atoms) -> RunInfo:
    from md_runs.lammps.run import model_file as resolve

    path, meta = resolve(config.model)
    phases = plan.meta.get("phases") or interface_phases(atoms)
    prov: dict[str, Any] = provenance(config.seed)
    prov.update(status="running", steps_requested=config.steps.production, engine_seed=config.seed,
                equilibration_ensemble=plan.equilibrate_ensemble if config.steps.equilibrate else None,
                **{k: v for k, v in plan.meta.items() if k != "phases"})
    return RunInfo(protocol=config.protocol, name=plan.name, system=plan.system, engine=config.engine,
                   ensemble="nvt-langevin" if config.engine == "ase" else "nvt", temperature_K=plan.temperature,
                   timestep_fs=config.timestep_fs,
                   frame_interval_ps=config.intervals.dump * config.timestep_fs / 1000.0,
                   trajectory=engine.trajectory_name, species=[str(s) for s in meta["species"]],
                   model=config.model, model_sha256=_sha256(path), surface_normal=plan.surface_normal,
                   phases=phases, formula_unit=plan.formula_unit, provenance=prov)


def run_one(config: ProtocolConfig, plan: RunPlan, run_dir: Path, engine: Engine, index: int,
            progress=None) -> Path:
    """Build (once), minimise, equilibrate and run production for one plan; resumable at each step."""
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = config.steps
    offsets = {"equilibration": 0, "production": steps.equilibrate}

    def hook(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(offsets[stage] + done)

    atoms = _initial(plan, run_dir)
    state = engine.prepare(atoms, run_dir)
    state = engine.minimise(state, run_dir / "minimise", steps.minimise)
    seed = config.seed + 1000 * index
    if steps.equilibrate > 0:
        equilibration = Stage("equilibration", run_dir / "equilibration", run_dir, plan.equilibrate_ensemble,
                              steps.equilibrate, plan.temperature, seed)
        state = engine.md(equilibration, state, hook)
    info_path = run_dir / RUN_FILE
    info = read_run_info(run_dir) if info_path.exists() else _run_info(config, plan, engine, atoms)
    info.provenance.update(status="running", steps_requested=steps.production)
    write_run_info(run_dir, info)

    def on_chunk(step: int) -> None:
        info.steps_done = step
        write_run_info(run_dir, info)

    production = Stage("production", run_dir, run_dir, "nvt", steps.production, plan.temperature, seed + 1,
                       init_velocities=steps.equilibrate == 0, on_chunk=on_chunk)
    try:
        engine.md(production, state, hook)
    except MonitorStop as stop:
        info.provenance.update(status="stopped", stop=str(stop))
        write_run_info(run_dir, info)
        plot_thermo(run_dir, plan.temperature)
        raise
    info.steps_done = steps.production
    info.provenance["status"] = "finished"
    write_run_info(run_dir, info)
    plot_thermo(run_dir, plan.temperature)
    return run_dir


def check_structures(plans: list[RunPlan], out: Path, where: str) -> None:
    """Build every run's starting structure that is not built yet and check it (finite positions
    and cell, no overlapping atoms) before any MD starts; an error names the protocol and system."""
    from mlip.data.validate import frame_problems
    from mlip.errors import UserError

    for plan in plans:
        if (out / plan.name / "initial.extxyz").exists():
            continue
        try:
            atoms = plan.build()
        except UserError as exc:
            raise UserError(f"{plan.system}: {exc}", where) from None
        problems = frame_problems(atoms, require_labels=False)
        if problems:
            raise UserError(f"{plan.system}: starting structure: {problems[0]}", where)


def run_protocol(config: dict | str | os.PathLike, out: str | os.PathLike, *, resume: bool = True) -> list[Path]:
    """Run every (system, temperature) of a protocol; return the run directories.

    ``config``: a protocol YAML path or its dict (see :mod:`md_runs.protocols.config`). With
    ``resume`` (default) finished runs are skipped and interrupted ones continue from their last
    restart; without it existing run directories are removed first. A safety monitor stopping a
    run raises :class:`MonitorStop` after its checkpoint and candidates are written.
    """
    cfg, base = load_protocol(config)
    out = Path(out)
    seed_everything(cfg.seed)
    plans = make_plans(cfg, base)
    check_structures(plans, out, "protocol" if isinstance(config, dict) else str(config))
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "protocol.yaml")
    engine: Engine | None = None
    run_dirs: list[Path] = []
    total = cfg.steps.equilibrate + cfg.steps.production
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        for index, plan in enumerate(plans):
            run_dir = out / plan.name
            if not resume and run_dir.exists():
                shutil.rmtree(run_dir)
            task = bar.add_task(f"{plan.name} ({cfg.engine})", total=total)
            if is_finished(run_dir, cfg.steps.production):
                bar.update(task, completed=total, description=f"{plan.name} (finished before)")
                run_dirs.append(run_dir)
                continue
            engine = engine or make_engine(cfg)
            run_one(cfg, plan, run_dir, engine, index, lambda done, t=task: bar.update(t, completed=done))
            run_dirs.append(run_dir)
    if any(p.meta.get("defect") for p in plans):  # formation energy and NEB/TST of each defect, same model
        from rich.console import Console

        from md_runs.protocols.energetics import write_defect_energetics

        write_defect_energetics(cfg.model, plans, out, say=lambda line: Console().print(line, highlight=False))
    _summary(out, run_dirs)
    return run_dirs


def _summary(out: Path, run_dirs: list[Path]) -> None:
    lines = ["# seimlip md run", "", "| run | system | T (K) | engine | steps | frame interval (ps) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for d in run_dirs:
        i = read_run_info(d)
        lines.append(f"| {i.name} | {i.system} | {i.temperature_K:g} | {i.engine} | {i.steps_done} | "
                     f"{i.frame_interval_ps:g} |")
    write_text_atomic(out / "summary.md", "\n".join(lines) + "\n")
