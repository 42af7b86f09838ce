"""What the engines run: one MD stage (equilibration or production) of one run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Protocol

from ase import Atoms

from md_runs.protocols.config import ProtocolBase

#: called with (stage name, steps done, steps asked) after each chunk
ProgressHook = Callable[[str, int, int], None]


@dataclass
class Stage:
    """One MD stage: written into ``folder`` (trajectory, thermo.csv, restart/, final state).

    ``run_dir`` is where monitor candidates go; ``on_chunk`` is called after each checkpoint with
    the step reached (the production stage keeps ``steps_done`` in run.json current with it).
    """

    name: Literal["equilibration", "production"]
    folder: Path
    run_dir: Path
    ensemble: Literal["nvt", "npt"]
    steps: int
    temperature: float
    seed: int
    init_velocities: bool = True        # draw Maxwell-Boltzmann velocities at step 0
    on_chunk: Callable[[int], None] | None = None


class Engine(Protocol):
    """An MD engine: LAMMPS (:mod:`md_runs.protocols.lammps_engine`) or ASE (``ase_engine``)."""

    trajectory_name: str

    def prepare(self, atoms: Atoms, folder: Path) -> Path:
        """Write ``atoms`` as the engine's initial state file in ``folder``; return its path."""

    def minimise(self, state: Path, folder: Path, max_iterations: int) -> Path:
        """Minimise the positions of ``state``; return the minimised state file (idempotent)."""

    def md(self, stage: Stage, state: Path, progress: ProgressHook) -> Path:
        """Run (or resume) ``stage`` from ``state``; return its final state file."""


def make_engine(config: ProtocolBase) -> Engine:
    if config.engine == "lammps":
        from md_runs.protocols.lammps_engine import LammpsEngine

        return LammpsEngine(config)
    from md_runs.protocols.ase_engine import AseEngine

    return AseEngine(config)
