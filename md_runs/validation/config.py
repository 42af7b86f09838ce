"""What ``seimlip validate`` runs and how strictly it judges: suites, per-check settings, tolerances.

Two suites share one schema; ``--suite quick`` (the default, ~15 minutes on 2 CPU cores for the
shipped small model) and ``--suite full`` (production checks: >= 50 ps crystal runs, larger cells,
10 ps reactive run; hours). ``--config FILE.yaml`` overrides any field of the chosen suite, e.g.::

    tolerances: {v0_rel: 0.05, barrier_eV: 0.15}
    stability: {time_ps: 5.0}
    checks: [eos, stability]

Tolerances are documented defaults, not fitted numbers: V0 within 3 % of the reference method,
B0 within 20 %, migration barriers within 0.1 eV, liquid densities within 5 % of experiment, no
melting below 0.8 Tm.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from md_runs.validation.recompute import ReferenceSettings
from mlip.config import StrictModel, deep_merge, validate

CheckName = Literal["eos", "stability", "liquids", "migration", "surfaces", "reactive"]
ALL_CHECKS: tuple[str, ...] = ("eos", "stability", "liquids", "migration", "surfaces", "reactive")
Crystal = Literal["Li", "LiF", "Li2O", "Li2CO3"]
Liquid = Literal["EC", "DMC", "LiPF6_EC_DMC"]


class Tolerances(StrictModel):
    """Pass/fail limits of every row (documented defaults; override in ``--config``)."""

    v0_rel: float = Field(0.03, gt=0, description="V0 per formula unit vs the reference method (relative)")
    b0_rel: float = Field(0.20, gt=0, description="bulk modulus B0 vs the reference method (relative)")
    barrier_eV: float = Field(0.10, gt=0, description="migration barrier vs the reference method (eV)")
    surface_energy_rel: float = Field(0.15, gt=0, description="surface energy vs the reference method (relative)")
    adsorption_eV: float = Field(0.15, gt=0, description="adsorption energy vs the reference method (eV)")
    liquid_density_rel: float = Field(0.05, gt=0, description="liquid density vs experiment (relative)")
    li_coordination_abs: float = Field(1.0, gt=0, description="Li+ first-shell coordination number vs experiment")
    melt_fraction: float = Field(0.8, gt=0, lt=1, description="crystals must stay crystalline up to this x Tm")
    min_site_fraction: float = Field(0.9, gt=0, le=1, description="framework atoms within 1 Å of their sites")
    max_lindemann: float = Field(0.15, gt=0, description="framework Lindemann index (3D RMS / NN distance)")
    max_volume_drift_rel: float = Field(0.03, gt=0, description="NPT volume change over the second half of a run")


class EosSettings(StrictModel):
    phases: list[Crystal] = Field(default_factory=lambda: ["Li", "LiF", "Li2O", "Li2CO3"])
    search_volume_ratio: tuple[float, float] = Field((0.55, 2.2), description="coarse scan, V/V_experiment")
    search_points: int = Field(14, ge=5)
    fit_span: float = Field(0.08, gt=0, lt=0.5, description="fine scan: V0 x (1 +- span)")
    fit_points: int = Field(9, ge=5)
    relax_fmax: float = Field(0.02, gt=0, description="eV/Å; positions (and cell shape for Li2CO3)")
    relax_steps: int = Field(300, ge=1)


class StabilitySettings(StrictModel):
    phases: list[Literal["LiF", "Li2O", "Li2CO3"]] = Field(default_factory=lambda: ["LiF", "Li2O", "Li2CO3"])
    repeat: dict[str, tuple[int, int, int]] = Field(
        default_factory=lambda: {"LiF": (2, 2, 2), "Li2O": (2, 2, 2), "Li2CO3": (1, 2, 2)})
    temperatures_K: list[float] = Field(default_factory=lambda: [600.0], description="fixed temperatures")
    melt_fractions: list[float] = Field(default_factory=lambda: [0.8], description="and these x Tm")
    time_ps: float = Field(2.0, gt=0)
    timestep_fs: dict[str, float] = Field(default_factory=lambda: {"LiF": 2.0, "Li2O": 2.0, "Li2CO3": 1.0})
    frame_ps: float = Field(0.02, gt=0, description="time between analysed frames")


class LiquidSettings(StrictModel):
    systems: list[Liquid] = Field(default_factory=lambda: ["EC", "DMC", "LiPF6_EC_DMC"])
    n_solvent: int = Field(16, ge=2)
    time_ps: float = Field(1.0, gt=0)
    timestep_fs: float = Field(1.0, gt=0, le=2)
    average_fraction: float = Field(0.5, gt=0, le=1, description="last fraction of the run averaged")
    frame_ps: float = Field(0.02, gt=0)


class MigrationSettings(StrictModel):
    defects: list[Literal["vacancy", "interstitial"]] = Field(default_factory=lambda: ["vacancy", "interstitial"])
    repeat: tuple[int, int, int] = (2, 2, 2)
    images: int = Field(3, ge=1, description="intermediate NEB images")
    fmax: float = Field(0.05, gt=0)
    steps: int = Field(300, ge=1)


class SurfaceSettings(StrictModel):
    faces: list[Literal["100", "110"]] = Field(default_factory=lambda: ["100", "110"])
    size: tuple[int, int] = (2, 2)
    layers: int = Field(6, ge=3)
    vacuum: float = Field(12.0, gt=0)
    adsorbate_size: tuple[int, int] = (3, 3)
    adsorbate_layers: int = Field(4, ge=3)
    adsorption: bool = True
    fmax: float = Field(0.05, gt=0)
    steps: int = Field(300, ge=1)


class ReactiveSettings(StrictModel):
    temperature_K: float = Field(400.0, gt=0)
    time_ps: float = Field(0.5, gt=0)
    timestep_fs: float = Field(0.5, gt=0, le=2)
    size: tuple[int, int] = (3, 3)
    layers: int = Field(4, ge=2)
    n_solvent: int = Field(12, ge=1)
    molarity: float = Field(1.0, ge=0)
    equilibrate_ps: float = Field(0.1, ge=0)


class ValidationConfig(StrictModel):
    suite: Literal["quick", "full", "custom"] = "quick"
    checks: list[CheckName] = Field(default_factory=lambda: list(ALL_CHECKS))
    engine: Literal["lammps", "ase"] = Field("lammps", description="MD engine for seimlip models (others: ASE)")
    workers: int = Field(2, ge=1, le=16, description="independent checks run in this many processes")
    seed: int = Field(1, ge=1)
    reference: str | None = Field(None, description="reference JSON (default: the shipped GFN1-xTB file)")
    tolerances: Tolerances = Field(default_factory=Tolerances)
    eos: EosSettings = Field(default_factory=EosSettings)
    stability: StabilitySettings = Field(default_factory=StabilitySettings)
    liquids: LiquidSettings = Field(default_factory=LiquidSettings)
    migration: MigrationSettings = Field(default_factory=MigrationSettings)
    surfaces: SurfaceSettings = Field(default_factory=SurfaceSettings)
    reactive: ReactiveSettings = Field(default_factory=ReactiveSettings)
    #: cells and settings of --recompute-reference (the reference method's own numbers)
    recompute: ReferenceSettings = Field(default_factory=ReferenceSettings)


#: the full suite: what a production study validates (hours on CPU; minutes on a GPU)
FULL = {
    "suite": "full",
    "stability": {"repeat": {"LiF": (4, 4, 4), "Li2O": (3, 3, 3), "Li2CO3": (2, 3, 3)}, "time_ps": 50.0,
                  "frame_ps": 0.1},
    "liquids": {"n_solvent": 64, "time_ps": 20.0, "timestep_fs": 0.5, "frame_ps": 0.1},
    "migration": {"images": 5, "fmax": 0.03},  # the reference path's cell (63/65 atoms), so both meet on it
    "surfaces": {"size": (3, 3), "layers": 8, "adsorbate_size": (4, 4), "adsorbate_layers": 5, "fmax": 0.03},
    "reactive": {"time_ps": 10.0, "equilibrate_ps": 1.0},
}

SUITES = {"quick": {"suite": "quick"}, "full": FULL}


def suite_config(suite: str, overrides: dict | None = None, where: str = "validation config") -> ValidationConfig:
    """The preset of ``suite`` (quick or full) with ``overrides`` (a --config mapping) on top."""
    from mlip.errors import UserError

    if suite not in SUITES:
        raise UserError(f"--suite must be one of {', '.join(SUITES)}, got {suite!r}")
    data = deep_merge(SUITES[suite], dict(overrides or {}))
    return validate(ValidationConfig, data, where)
