"""Protocol YAML: what ``seimlip md run`` runs, validated by strict pydantic models.

``protocol: sei_formation`` takes one ``system`` (a Li slab + electrolyte); ``protocol:
li_transport`` takes a list of ``systems`` (SEI phases or structures). Both share the engine,
model, temperatures, step counts, output intervals and monitor thresholds below.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlip.config import StrictModel, read_yaml, validate
from mlip.errors import UserError


MAX_TEMPERATURE_K = 5000.0


def check_temperatures(temperatures: list[float]) -> list[float]:
    """MD target temperatures: each finite in (0, 5000] K, no duplicates (a ``ValueError`` otherwise,
    for a pydantic validator)."""
    for t in temperatures:
        if not (math.isfinite(t) and 0 < t <= MAX_TEMPERATURE_K):
            raise ValueError(f"temperatures must be in (0, {MAX_TEMPERATURE_K:g}] K, got {t}")
    if len(set(temperatures)) != len(temperatures):
        raise ValueError("temperatures have duplicates")
    return temperatures


class Steps(StrictModel):
    """Step counts of the three stages (minimise: the minimiser's max iterations)."""

    minimise: int = Field(200, ge=0)
    equilibrate: int = Field(200, ge=0)
    production: int = Field(400, ge=1)


class Intervals(StrictModel):
    """Output intervals in MD steps; ``restart`` must be a multiple of ``dump`` and ``thermo``."""

    thermo: int = Field(10, ge=1)
    dump: int = Field(20, ge=1)
    restart: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _multiples(self) -> "Intervals":
        for name in ("dump", "thermo"):
            if self.restart % getattr(self, name):
                raise ValueError(f"restart ({self.restart}) must be a multiple of {name} ({getattr(self, name)})")
        return self


class MonitorConfig(StrictModel):
    """Safety limits, checked every ``check_every`` steps (None switches a monitor off)."""

    check_every: int = Field(10, ge=1)
    min_distance_A: float | None = Field(0.5, gt=0, description="stop when two atoms come closer (Å)")
    max_temperature_ratio: float | None = Field(3.0, gt=1, description="stop when T > ratio x target T")
    max_energy_drift_eV_atom: float | None = Field(
        0.1, gt=0, description="stop when the conserved energy drifts this far per atom (LAMMPS Nose-Hoover)")
    max_force_dev_eV_A: float | None = Field(
        1.0, gt=0, description="committee models: stop when the max force deviation exceeds this (eV/Å)")


class Thermostat(StrictModel):
    tdamp_fs: float = Field(100.0, gt=0)
    pdamp_fs: float = Field(1000.0, gt=0)
    pressure_bar: float = 1.0
    barostat: Literal["iso", "aniso", "tri"] = "iso"
    ftol: float = Field(0.05, gt=0, description="minimiser force tolerance (eV/Å)")


class ProtocolBase(StrictModel):
    model: str = Field("li-ec-gfn1", description="deployed model file or shipped model name")
    engine: Literal["lammps", "ase"] = "lammps"
    temperatures_K: list[float] = Field(default_factory=lambda: [400.0], min_length=1)
    timestep_fs: float = Field(0.5, gt=0, le=5)
    steps: Steps = Field(default_factory=Steps)
    intervals: Intervals = Field(default_factory=Intervals)
    monitors: MonitorConfig = Field(default_factory=MonitorConfig)
    thermostat: Thermostat = Field(default_factory=Thermostat)
    seed: int = Field(1, ge=1)
    nprocs: int = Field(1, ge=1, description="LAMMPS MPI ranks (1: in-process)")
    pair_options: str = Field("", description="appended to pair_style seimlip (device cuda, graph ghosts)")

    @field_validator("temperatures_K")
    @classmethod
    def _temperatures(cls, v: list[float]) -> list[float]:
        return check_temperatures(v)


class FormationSystem(StrictModel):
    """Li(face) slab + electrolyte, see :func:`md_runs.builders.li_interface`."""

    face: Literal["100", "110"] = "100"
    size: tuple[int, int] = (3, 3)
    layers: int = Field(4, ge=2)
    n_solvent: int = Field(12, ge=1)
    solvent: dict[str, float] = Field(default_factory=lambda: {"EC": 1.0})
    molarity: float = Field(1.0, ge=0)
    gap: float = Field(2.0, ge=0)


class SeiFormationConfig(ProtocolBase):
    protocol: Literal["sei_formation"]
    system: FormationSystem = Field(default_factory=FormationSystem)


class TransportSystem(StrictModel):
    """A bulk SEI phase (``phase`` + ``repeat``) or a structure file / formation run directory."""

    phase: Literal["LiF", "Li2O", "Li2CO3"] | None = None
    repeat: tuple[int, int, int] = (2, 2, 2)
    defect: Literal["interstitial", "vacancy", "frenkel"] | None = Field(
        None, description="one Li point defect in the phase's supercell (Li moves by defects, not in a perfect lattice)")
    defect_seed: int = Field(0, ge=0, description="which Li / which hole the defect takes")
    structure: str | None = Field(None, description="structure file (last frame) or a run directory (final frame)")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.+-]+$")
    equilibrate_ensemble: Literal["npt", "nvt"] | None = Field(
        None, description="default: npt for bulk phases, nvt for structures (interfaces with vacuum)")

    @model_validator(mode="after")
    def _one_source(self) -> "TransportSystem":
        if (self.phase is None) == (self.structure is None):
            raise ValueError("give exactly one of phase or structure")
        if self.defect is not None and self.phase is None:
            raise ValueError("a defect needs a phase (it is placed in the phase's supercell)")
        return self


class LiTransportConfig(ProtocolBase):
    protocol: Literal["li_transport"]
    systems: list[TransportSystem] = Field(min_length=1)
    replicas: int = Field(1, ge=1, le=16, description="runs per (system, temperature) with different seeds "
                          "(names end _r1, _r2 ...); the export pools them and its error bars cover their spread")

    @model_validator(mode="after")
    def _names(self) -> "LiTransportConfig":
        names = [system_name(s) for s in self.systems]
        if len(set(names)) != len(names):
            raise ValueError(f"systems have duplicate names {names}: give each a distinct name")
        return self


ProtocolConfig = SeiFormationConfig | LiTransportConfig
PROTOCOLS: dict[str, type[ProtocolBase]] = {"sei_formation": SeiFormationConfig,
                                            "li_transport": LiTransportConfig}


def system_name(system: TransportSystem) -> str:
    if system.name:
        return system.name
    if system.phase:
        return f"{system.phase}_{system.defect}" if system.defect else system.phase
    return Path(system.structure or "structure").stem or "structure"


def load_protocol(config: dict[str, Any] | str | os.PathLike) -> tuple[ProtocolConfig, Path]:
    """(validated config, folder that relative paths in it are relative to)."""
    if isinstance(config, dict):
        data, where, base = dict(config), "protocol", Path.cwd()
    else:
        path = Path(config)
        data, where, base = read_yaml(path), str(path), path.resolve().parent
    name = data.get("protocol")
    if name not in PROTOCOLS:
        known = " or ".join(PROTOCOLS)
        raise UserError(f"protocol: must be {known}, got {name!r}" if name else f"protocol: missing ({known})", where)
    return validate(PROTOCOLS[name], data, where), base
