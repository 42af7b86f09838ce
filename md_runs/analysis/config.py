"""Options of ``seimlip analyze`` (YAML, validated; the resolved copy is written beside the results)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlip.config import StrictModel


class AnalysisConfig(StrictModel):
    """What every analysis may be tuned by; the defaults suit short ps-scale runs."""

    #: element-pair bond cutoffs (Å) overriding :data:`md_runs.analysis.species.BOND_CUTOFFS`, e.g. {"C-O": 1.8}
    bond_cutoffs: dict[str, float] = {}
    #: Li-O / Li-F contact (Å; first minimum of their RDFs) binding an anion to Li, and making a Li ionic
    li_anion_cutoff: float = Field(2.6, gt=0)
    #: frames between species/profile evaluations (1 = every frame)
    species_stride: int = Field(1, ge=1)
    #: bin width of the profiles along the surface normal (Å)
    profile_bin_A: float = Field(0.5, gt=0)
    #: last fraction of the run averaged for the profiles
    profile_window_fraction: float = Field(0.5, gt=0, le=1)
    #: MSD fit: lag times from start_fraction to max_fraction of the run length
    msd_start_fraction: float = Field(0.05, ge=0, lt=1)
    msd_max_fraction: float = Field(0.5, gt=0, le=1)
    #: at most this many lag times (evenly spread) enter the MSD fit (cost grows with lags x frames)
    msd_lags: int = Field(150, ge=4)
    #: fewest frames a run needs for the MSD analysis
    min_frames: int = Field(20, ge=4)
    #: Einstein-Helfand: time blocks for the collective MSD and the largest lag as a fraction of a block
    eh_blocks: int = Field(20, ge=2)
    eh_max_fraction: float = Field(0.3, gt=0, le=1)
    #: Einstein-Helfand estimator: "blocks" (block average above) or "kinisi" (its ConductivityAnalyzer,
    #: Bayesian regression of the whole-run charge MSD). Measured on 8 ideal random walks (64 walkers x
    #: 300 frames, benchmarks/bench_conductivity.py): blocks scatter 12.6 % (bias -1.7 %, RMS z 1.14),
    #: kinisi 42 % (bias -4.6 %, RMS z 1.28) and 7.5 s more per run: blocks stays the default
    eh_estimator: Literal["blocks", "kinisi"] = "blocks"
    #: Arrhenius fit of D(T): "wls" (weighted least squares of ln D vs 1/T) or "kinisi" (its Arrhenius
    #: MCMC); measured on the same synthetic D(T) in benchmarks/bench_arrhenius.py (numbers in
    #: md_runs/analysis/README.md): same Ea, honest errors both, wls costs nothing: wls stays the default
    arrhenius_estimator: Literal["wls", "kinisi"] = "wls"
    #: time blocks for the errors of block averages (NPT volume, species counts)
    blocks: int = Field(5, ge=2)
    #: MCMC samples of kinisi's Bayesian MSD regression
    mcmc_samples: int = Field(500, ge=50)
    seed: int = 0
    #: shear viscosity (mPa s) by run system (or "default") for the Yeh-Hummer correction of liquids
    viscosity_mPa_s: dict[str, float] = {}
