"""Sampling plans: which configurations to label, built from the structure builders.

A plan lists systems; each system is a builder spec (see ``md_runs.builders.build_from_spec``), how
many frames to draw, and how to perturb them (fragments near the surface, strain, rattling) or a
short high-temperature MD run with the reference method whose snapshots become frames.
Everything is seeded: the same plan gives the same frames.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.config import StrictModel
from md_runs import builders


class MDSampling(StrictModel):
    temperature: float = Field(800.0, gt=0, description="K")
    timestep: float = Field(0.5, gt=0, description="fs")
    steps_between: int = Field(10, ge=1, description="MD steps between kept snapshots")
    friction: float = Field(0.02, gt=0, description="Langevin friction, 1/fs")


class SystemSpec(StrictModel):
    name: str = Field(..., description="config_type of the frames")
    build: dict[str, Any] = Field(..., description="builder spec, e.g. {builder: li_slab, face: '100'}")
    count: int = Field(..., ge=1)
    vary_seed: bool = Field(True, description="rebuild with a new seed for every frame (new packings)")
    fragments: list[str] = Field(default_factory=list, description="one of these is added per frame")
    strain: float = Field(0.0, ge=0, le=0.2, description="max random strain")
    rattle: float = Field(0.0, ge=0, le=0.5, description="Å, std of Gaussian displacements")
    md: MDSampling | None = None


class BuildConfig(StrictModel):
    seed: int = 0
    systems: list[SystemSpec] = Field(..., min_length=1)


def _seed(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def _perturbed(spec: SystemSpec, base_seed: int, i: int) -> Atoms:
    """Frame ``i`` of a system: the builder spec plus this frame's seed and perturbations."""
    seed = _seed(base_seed, spec.name, spec.build, i)
    params: dict[str, Any] = {**spec.build, "config_type": spec.name}
    if spec.vary_seed:
        params["seed"] = seed
    if spec.fragments:
        pick = np.random.default_rng(seed).integers(len(spec.fragments))
        params["fragments"] = [spec.fragments[int(pick)]]
    if spec.strain > 0:
        params["strain"] = spec.strain
    if spec.rattle > 0:
        params["rattle"] = spec.rattle
    return builders.build_from_spec(params, where=spec.name)


def _md_snapshots(spec: SystemSpec, base_seed: int, calculator: Callable[[], Any]) -> list[Atoms]:
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    md = spec.md
    assert md is not None
    atoms = _perturbed(spec.model_copy(update={"md": None}), base_seed, 0)
    atoms.calc = calculator()
    seed = _seed(base_seed, spec.name, spec.build, "md")
    MaxwellBoltzmannDistribution(atoms, temperature_K=md.temperature, rng=np.random.default_rng(seed))
    dyn = Langevin(
        atoms, md.timestep * units.fs, temperature_K=md.temperature, friction=md.friction / units.fs,
        rng=np.random.default_rng(seed + 1),
    )
    frames = []
    for _ in range(spec.count):
        dyn.run(md.steps_between)
        snap = atoms.copy()
        snap.calc = None
        frames.append(snap)
    return frames


def default_md_calculator():
    """The reference method, used for the short hot MD runs of a plan."""
    from tblite.ase import TBLite

    return TBLite(method="GFN1-xTB", verbosity=0)


def build_frames(
    config: BuildConfig,
    progress: Callable[[str, int], None] | None = None,
    calculator: Callable[[], Any] = default_md_calculator,
) -> list[Atoms]:
    """All frames of a plan, each with ``info['config_type']`` set and validated by the builders."""
    frames: list[Atoms] = []
    for spec in config.systems:
        if spec.md is not None:
            new = _md_snapshots(spec, config.seed, calculator)
            for atoms in new:
                builders.validate_structure(atoms, where=spec.name)
        else:
            new = []
            for i in range(spec.count):
                new.append(_perturbed(spec, config.seed, i))
                if progress:
                    progress(spec.name, 1)
        for atoms in new:
            atoms.info["config_type"] = spec.name
        if progress and spec.md is not None:
            progress(spec.name, len(new))
        frames.extend(new)
    return frames
