"""Sampling plans: which configurations to label, built from the structure builders.

A plan lists systems; each system is a builder spec (see ``md_runs.builders.build_from_spec``), how
many frames to draw, and how to perturb them (fragments near the surface, strain, rattling) or a
short high-temperature MD run with the reference method whose snapshots become frames.
Everything is seeded: the same plan gives the same frames.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.config import StrictModel
from mlip.data.readers import read_frames, write_frames
from mlip.errors import UserError
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
    volume: tuple[float, float] | None = Field(None, description="[lo, hi]: V / V_built drawn uniformly (equations of state)")
    strain: float = Field(0.0, ge=0, le=0.2, description="max random strain")
    rattle: float = Field(0.0, ge=0, le=0.5, description="Å, std of Gaussian displacements")
    md: MDSampling | None = None


class BuildConfig(StrictModel):
    seed: int = 0
    systems: list[SystemSpec] = Field(..., min_length=1)


def _seed(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


MAX_DRAWS = 5  # a random placement that clashes is redrawn with a new seed this many times


def _perturbed(spec: SystemSpec, base_seed: int, i: int, where: str | None = None) -> Atoms:
    """Frame ``i`` of a system; a random draw that fails validation (a clash) is redrawn. An error
    that two draws repeat word for word is the spec's, not chance's: it is raised as it is."""
    where = where or spec.name
    errors: list[str] = []
    for draw in range(MAX_DRAWS):
        try:
            return _draw(spec, _seed(base_seed, spec.name, spec.build, i, *([draw] if draw else [])))
        except UserError as exc:
            errors.append(str(exc))
            if draw and errors[-1] == errors[-2]:
                raise UserError(errors[-1], where) from None
    raise UserError(f"frame {i}: {MAX_DRAWS} random draws failed, last: {errors[-1]}", where)


def _draw(spec: SystemSpec, seed: int) -> Atoms:
    """One draw of a system: the builder spec plus this seed and the perturbations."""
    params: dict[str, Any] = {**spec.build, "config_type": spec.name}
    if spec.vary_seed:
        params["seed"] = seed
    if spec.fragments:
        pick = np.random.default_rng(seed).integers(len(spec.fragments))
        params["fragments"] = [spec.fragments[int(pick)]]
    if spec.volume is not None:
        params["volume"] = list(spec.volume)
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


def _check_spec(spec: SystemSpec, where: str) -> None:
    from mlip.config import validate
    from md_runs.builders.spec import BUILDERS, spec_model

    name = spec.build.get("builder")
    if name not in BUILDERS:
        raise UserError(f"build.builder: unknown builder {name!r} (known: {', '.join(BUILDERS)})", where)
    validate(spec_model(name), {k: v for k, v in spec.build.items() if k != "builder"}, where)


def _valid(atoms: Atoms) -> bool:
    """Whether a hot-MD snapshot is physical (the data validator's criteria, not the builders'
    stricter packing thresholds, which thermal motion in a crystal crosses)."""
    from mlip.data.validate import frame_problems

    return not frame_problems(atoms, require_labels=False)


def default_md_calculator():
    """The reference method, used for the short hot MD runs of a plan."""
    from tblite.ase import TBLite

    return TBLite(method="GFN1-xTB", verbosity=0)


def build_frames(
    config: BuildConfig,
    progress: Callable[[str, int], None] | None = None,
    calculator: Callable[[], Any] = default_md_calculator,
    parts_dir: Path | None = None,
    source: str | None = None,
) -> list[Atoms]:
    """All frames of a plan, each with ``info['config_type']`` set and validated by the builders.

    With ``parts_dir``, each finished system is saved there and reused by a later call, so an
    interrupted build resumes at the system it stopped in. ``source`` (the plan file) is named
    in errors, with the system.
    """
    def where(k: int, spec: SystemSpec) -> str:
        return f"{source + ': ' if source else ''}systems[{k}] ({spec.name})"

    for k, spec in enumerate(config.systems):  # a mistake in the plan fails now, not after an hour
        _check_spec(spec, where(k, spec))
    frames: list[Atoms] = []
    for k, spec in enumerate(config.systems):
        part = parts_dir / f"{k:03d}-{_seed(config.seed, spec.model_dump_json())}.extxyz" if parts_dir else None
        if part is not None and part.exists():  # finished in an earlier, interrupted run
            new = read_frames(part)
            frames.extend(new)
            if progress:
                progress(spec.name, len(new))
            continue
        if spec.md is not None:  # hot snapshots with a momentary close contact are dropped
            new = [a for a in _md_snapshots(spec, config.seed, calculator) if _valid(a)]
        else:
            new = []
            for i in range(spec.count):
                new.append(_perturbed(spec, config.seed, i, where(k, spec)))
                if progress:
                    progress(spec.name, 1)
        for atoms in new:
            atoms.info["config_type"] = spec.name
        if progress and spec.md is not None:
            progress(spec.name, len(new))
        if part is not None:
            write_frames(part, new)
        frames.extend(new)
    return frames
