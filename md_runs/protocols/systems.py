"""The runs a protocol asks for: one :class:`RunPlan` per (system, temperature)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from ase import Atoms

from md_runs.protocols.config import LiTransportConfig, ProtocolConfig, SeiFormationConfig, TransportSystem, system_name
from mlip.errors import UserError


@dataclass
class RunPlan:
    """One run directory: a system (built on demand) at one temperature."""

    name: str
    system: str
    temperature: float
    build: Callable[[], Atoms]
    equilibrate_ensemble: Literal["nvt", "npt"]
    formula_unit: str | None = None
    surface_normal: int | None = None
    meta: dict = field(default_factory=dict)


def _t(temperature: float) -> str:
    return f"T{temperature:g}"


def interface_phases(atoms: Atoms) -> dict[str, list[int]]:
    """Region -> atom indices for a built interface (``mol_id`` -1 is the Li slab)."""
    if "mol_id" not in atoms.arrays:
        return {}
    slab = atoms.arrays["mol_id"] == -1
    return {"slab": np.flatnonzero(slab).tolist(), "electrolyte": np.flatnonzero(~slab).tolist()}


def formation_plans(config: SeiFormationConfig) -> list[RunPlan]:
    from md_runs.builders import li_interface

    s = config.system
    mix = "-".join(k for k, v in s.solvent.items() if v > 0)
    cache: dict[str, Atoms] = {}

    def build() -> Atoms:
        if "atoms" not in cache:
            cache["atoms"] = li_interface(face=s.face, size=s.size, layers=s.layers, n_solvent=s.n_solvent,
                                          solvent=s.solvent, molarity=s.molarity, gap=s.gap, seed=config.seed)
        return cache["atoms"].copy()

    return [RunPlan(f"li{s.face}_{mix}_{_t(t)}", f"li{s.face}|{mix}", t, build, "nvt", surface_normal=2)
            for t in config.temperatures_K]


def _structure(system: TransportSystem, base: Path) -> tuple[Callable[[], Atoms], dict]:
    path = Path(system.structure or "")
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise UserError("structure not found", str(path))
    if path.is_dir():
        from md_runs.trajectory import read_run, read_run_info

        info = read_run_info(path)

        def build() -> Atoms:
            atoms = read_run(path, index=slice(-1, None)).frames[-1]
            atoms.wrap()
            return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)

        return build, {"surface_normal": info.surface_normal, "source_run": str(path), "phases": info.phases}

    def build() -> Atoms:
        from ase.io import read

        try:
            atoms = read(path, index=-1)
        except Exception as exc:  # ase raises many kinds for unreadable files
            raise UserError(f"cannot read structure ({exc})", str(path)) from None
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise UserError("a transport structure must be fully periodic with a 3D cell", str(path))
        return atoms

    return build, {"source_file": str(path)}


def transport_plans(config: LiTransportConfig, base: Path) -> list[RunPlan]:
    from md_runs.builders import sei_defect, sei_phase

    plans = []
    for system in config.systems:
        name = system_name(system)
        if system.phase is not None:
            def build(phase=system.phase, repeat=system.repeat, defect=system.defect, seed=system.defect_seed) -> Atoms:
                if defect is None:
                    return sei_phase(phase, repeat)
                atoms = sei_defect(phase, repeat, defect, seed=seed)
                return Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)

            meta, formula, normal, ensemble = {"repeat": list(system.repeat)}, system.phase, None, "npt"
            if system.defect:  # the analysis counts the hops of this defect (md_runs.analysis.defect_transport)
                meta.update(defect=system.defect, n_defects=1, defect_seed=system.defect_seed)
        else:
            build, meta = _structure(system, base)
            formula, normal, ensemble = None, meta.pop("surface_normal", None), "nvt"
        ensemble = system.equilibrate_ensemble or ensemble
        for t in config.temperatures_K:
            for r in range(1, config.replicas + 1):  # replicas differ by their velocity seed (run index)
                suffix, extra = (f"_r{r}", {"replica": r}) if config.replicas > 1 else ("", {})
                plans.append(RunPlan(f"{name}_{_t(t)}{suffix}", system.phase or name, t, build, ensemble, formula,
                                     normal, {**meta, **extra}))
    return plans


def make_plans(config: ProtocolConfig, base: Path) -> list[RunPlan]:
    if isinstance(config, SeiFormationConfig):
        return formation_plans(config)
    return transport_plans(config, base)
