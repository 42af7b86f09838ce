"""Li (and solvent) diffusion, Li-ion conductivity and the Haven ratio from one run.

- Tracer diffusivity D*: kinisi's Bayesian regression of the MSD (covariance of the overlapping
  windows modelled, MCMC posterior), over lag times ``msd_start_fraction``..``msd_max_fraction`` of
  the run, drift-corrected by the other atoms; per region (``run.json`` ``phases``) as well.
  Measured on ideal random walks (8 walks, 64 walkers x 300 frames): D* is 5.6 % below the exact
  estimate (mean squared step) on average, about 1 reported sigma (kinisi's data-driven
  covariance; rescaling its variances to a fitted line made it worse, so it is used as is).
- Liquids (runs holding EC/DMC and no surface): Yeh-Hummer correction
  D_inf = D_pbc + xi kB T / (6 pi eta L), xi = 2.837297, with the viscosity eta from the config.
- Conductivity: Nernst-Einstein sigma = N e^2 D* / (V kB T), and Einstein-Helfand (collective)
  sigma = e^2 / (6 V kB T) d<|sum_i dr_i|^2>/dt over Li, standard error over ``eh_blocks`` time
  blocks (short lags: one collective track has little information beyond them); Haven ratio
  H = D* / D_sigma.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from md_runs.analysis.common import run_provenance
from md_runs.analysis.config import AnalysisConfig
from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.trajectory import Run
from mlip.errors import UserError

KB = 1.380649e-23          # J/K
E = 1.602176634e-19        # C
NA = 6.02214076e23
YEH_HUMMER_XI = 2.837297
SOLVENTS = ("EC", "DMC")
#: MSD ~ t^alpha with alpha above this over the fit window counts as diffusive (meta ``diffusive``)
DIFFUSIVE_EXPONENT = 0.8
#: ... and its MSD at the end of the window above this (Å^2): beyond thermal vibration, half a Li hop
DIFFUSIVE_MSD_A2 = 2.0


def unwrapped_displacements(frames: list[Atoms]) -> np.ndarray:
    """[T, N, 3] displacements from frame 0, unwrapped by the minimum image of each step (Å)."""
    frac = np.array([f.get_scaled_positions(wrap=False) for f in frames])
    cells = np.array([np.array(f.cell) for f in frames])
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    cart = np.einsum("tnk,tkl->tnl", step, cells[1:])
    return np.concatenate([np.zeros((1,) + frac.shape[1:]), np.cumsum(cart, axis=0)])


def _lags(n_frames: int, config: AnalysisConfig) -> tuple[int, int]:
    n_max = max(2, int(config.msd_max_fraction * (n_frames - 1)))
    start = min(max(1, int(round(config.msd_start_fraction * (n_frames - 1)))), n_max - 1)
    return start, n_max


def tracer_diffusivity(disp: np.ndarray, interval_ps: float, config: AnalysisConfig,
                       drift: np.ndarray | None = None) -> tuple[Quantity, dict[str, list]]:
    """D* (m^2/s) with its posterior std by kinisi, from displacements [T, N, 3] of the tracers."""
    import scipp as sc
    from kinisi.analyze import DiffusionAnalyzer

    if drift is not None:
        disp = disp - drift[:, None, :]
    n_frames, n = disp.shape[:2]
    start, n_max = _lags(n_frames, config)
    frames = _tracks_as_frames(disp)  # kinisi reads positions through ASE
    lags = np.unique(np.linspace(1, n_max, min(n_max, config.msd_lags)).round().astype(int))
    dt = sc.array(dims=["time interval"], values=lags.astype(float)) * sc.scalar(interval_ps, unit="ps")
    analyzer = DiffusionAnalyzer.from_ase(
        frames, specie="X", time_step=sc.scalar(interval_ps, unit="ps"), step_skip=sc.scalar(1),
        dt=dt, progress=False)
    analyzer.diffusion(sc.scalar(start * interval_ps, unit="ps"), n_samples=config.mcmc_samples,
                       progress=False, random_state=np.random.RandomState(config.seed))
    samples = np.asarray(analyzer.D.values, float) * 1e-4  # cm2/s -> m2/s
    msd = analyzer.msd
    table = {"time_ps": np.asarray(analyzer.dt.values, float).tolist(),
             "msd_A2": np.asarray(msd.values, float).tolist(),
             "msd_std_A2": np.sqrt(np.asarray(msd.variances, float)).tolist()}
    window = [start * interval_ps, n_max * interval_ps]
    intercept = analyzer.intercept
    # MSD ~ t^alpha over the fit window: alpha near 1 is diffusive, near 0 a vibrating (caged) solid
    in_fit = np.asarray(table["time_ps"]) >= start * interval_ps - 1e-12
    t_fit, m_fit = np.asarray(table["time_ps"])[in_fit], np.asarray(table["msd_A2"])[in_fit]
    ok = m_fit > 0
    alpha = float(np.polyfit(np.log(t_fit[ok]), np.log(m_fit[ok]), 1)[0]) if ok.sum() > 1 else float("nan")
    q = Quantity(float(samples.mean()), float(samples.std(ddof=1)), "m2/s", "MSD, kinisi Bayesian regression",
                 {"n_tracers": int(n), "fit_window_ps": window,
                  "msd_intercept_A2": float(np.mean(intercept.values)) if intercept is not None else 0.0,
                  "msd_exponent": alpha, "msd_end_A2": float(m_fit[-1]),
                  "diffusive": bool(alpha > DIFFUSIVE_EXPONENT and m_fit[-1] > DIFFUSIVE_MSD_A2)})
    return q, table


def collective_diffusivity(disp: np.ndarray, interval_ps: float, config: AnalysisConfig) -> tuple[Quantity, dict]:
    """D_sigma = (1/6N) d<|sum_i dr_i|^2>/dt (m^2/s): mean and standard error over ``eh_blocks`` time blocks.

    One collective track carries little information, and mostly at short lags, so each block
    fits lags from ``msd_start_fraction`` to ``eh_max_fraction`` of the block (at least 8 frames a
    block; every block the same lags). The table is what was fitted: the block-mean collective
    MSD / N at those lags with its standard error, and the block-mean line (slope 6 D_sigma and
    intercept) over the fit window, so the plotted line goes through the plotted points.
    """
    total = disp.sum(axis=1)
    n = disp.shape[1]
    blocks = max(2, min(config.eh_blocks, len(total) // 8))
    parts = np.array_split(np.arange(len(total)), blocks)
    shortest = min(len(b) for b in parts)
    n_max = max(2, int(config.eh_max_fraction * (shortest - 1)))
    start = min(max(1, int(round(config.msd_start_fraction * (shortest - 1)))), n_max - 1)
    lags = np.arange(1, n_max + 1)
    curves, slopes, intercepts = [], [], []
    for block in parts:
        m = total[block]
        msd = np.array([np.mean(np.sum((m[k:] - m[:-k]) ** 2, axis=1)) for k in lags]) / n
        slope, intercept = np.polyfit(lags[start - 1:] * interval_ps, msd[start - 1:], 1)
        curves.append(msd)
        slopes.append(slope / 6 * 1e-8)  # Å²/ps -> m²/s
        intercepts.append(intercept)
    values, curves = np.array(slopes), np.array(curves)
    window = [float(start * interval_ps), float(n_max * interval_ps)]
    q = Quantity(float(values.mean()), float(values.std(ddof=1) / np.sqrt(blocks)), "m2/s",
                 "collective MSD, block average", {"blocks": blocks, "fit_window_ps": window,
                                                   "msd_intercept_A2": float(np.mean(intercepts))})
    return q, {"time_ps": (lags * interval_ps).tolist(), "msd_A2": curves.mean(0).tolist(),
               "msd_stderr_A2": (curves.std(0, ddof=1) / np.sqrt(blocks)).tolist(), "fit_window_ps": window,
               "block_frames": int(shortest)}


def _tracks_as_frames(disp: np.ndarray) -> list[Atoms]:
    """Unwrapped tracks [T, N, 3] as ASE frames in a box no step can cross (kinisi reads ASE)."""
    n = disp.shape[1]
    box = float(np.ptp(disp, axis=(0, 1)).max()) * 3 + 10.0
    return [Atoms(f"X{n}", positions=d + box / 2, cell=[box] * 3, pbc=True) for d in disp]


def kinisi_collective_diffusivity(disp: np.ndarray, interval_ps: float, config: AnalysisConfig) -> tuple[Quantity, dict]:
    """D_sigma (m^2/s) by kinisi's ``ConductivityAnalyzer``: Bayesian regression of the mean-squared
    charge displacement |sum_i dr_i|^2 / N of unit charges (the windows' covariance modelled), over
    the lags of the tracer fit. The conductivity then follows with the run's own volume (kinisi's
    would use the box of the reconstructed tracks)."""
    import scipp as sc
    from kinisi.analyze import ConductivityAnalyzer

    n_frames = disp.shape[0]
    start, n_max = _lags(n_frames, config)
    lags = np.unique(np.linspace(1, n_max, min(n_max, config.msd_lags)).round().astype(int))
    dt = sc.array(dims=["time interval"], values=lags.astype(float)) * sc.scalar(interval_ps, unit="ps")
    analyzer = ConductivityAnalyzer.from_ase(
        _tracks_as_frames(disp), specie="X", time_step=sc.scalar(interval_ps, unit="ps"), step_skip=sc.scalar(1),
        ionic_charge=sc.scalar(1.0, unit="e"), dt=dt, progress=False)
    analyzer.conductivity(sc.scalar(start * interval_ps, unit="ps"), sc.scalar(300.0, unit="K"),
                          n_samples=config.mcmc_samples, progress=False,
                          random_state=np.random.RandomState(config.seed))
    e2 = 1.602176634e-19 ** 2  # kinisi's charges are in coulomb: its MSCD is in C^2 Å^2

    def scale(variable, unit: str) -> float:
        return float(sc.to_unit(sc.scalar(1.0, unit=variable.unit), unit).value) / e2

    gradient = analyzer.diff.gradient
    samples = np.asarray(gradient.values, float) * scale(gradient, "C^2*angstrom^2/ps") / 6 * 1e-8  # m^2/s
    window = [float(start * interval_ps), float(n_max * interval_ps)]
    intercept = analyzer.diff.intercept
    q = Quantity(float(samples.mean()), float(samples.std(ddof=1)), "m2/s",
                 "collective MSD, kinisi Bayesian regression",
                 {"fit_window_ps": window,
                  "msd_intercept_A2": float(np.mean(intercept.values)) * scale(intercept, "C^2*angstrom^2")
                  if intercept is not None else 0.0})
    mscd = analyzer.mscd
    to_a2 = scale(mscd, "C^2*angstrom^2")
    return q, {"time_ps": np.asarray(analyzer.dt.values, float).tolist(),
               "msd_A2": (np.asarray(mscd.values, float) * to_a2).tolist(),
               "msd_stderr_A2": (np.sqrt(np.asarray(mscd.variances, float)) * to_a2).tolist(),
               "fit_window_ps": window}


def _molecule_displacements(disp: np.ndarray, atoms: Atoms, members: list[np.ndarray]) -> np.ndarray:
    masses = atoms.get_masses()
    return np.stack([(disp[:, m] * masses[m, None]).sum(1) / masses[m].sum() for m in members], axis=1)


def _viscosity(config: AnalysisConfig, system: str) -> float | None:
    value = config.viscosity_mPa_s.get(system, config.viscosity_mPa_s.get("default"))
    return None if value is None else float(value) * 1e-3


def yeh_hummer(q: Quantity, temperature: float, volume_A3: float, eta: float | None) -> Quantity:
    """Add the Yeh-Hummer finite-size correction to a liquid diffusivity (a note when eta is unknown)."""
    if eta is None:
        q.meta["finite_size_correction"] = "not applied: set viscosity_mPa_s for this system in the config"
        return q
    length = (volume_A3 ** (1 / 3)) * 1e-10
    delta = YEH_HUMMER_XI * KB * temperature / (6 * np.pi * eta * length)
    q.meta.update({"finite_size_correction": "Yeh-Hummer", "pbc_value": q.mean, "correction": delta,
                   "viscosity_mPa_s": eta * 1e3, "box_length_m": length})
    q.mean += delta
    return q


def diffusion_result(run: Run, config: AnalysisConfig, png: Path, molecules: dict[str, list[np.ndarray]] | None = None,
                     liquid: bool = False, regions: dict[str, tuple[np.ndarray, dict]] | None = None) -> AnalysisResult:
    """Li tracer D (all Li and per region), solvent D, NE and EH conductivity, Haven ratio.

    ``regions`` maps a region name to (atom indices, extra meta); default: ``run.json`` phases.
    """
    n_frames = len(run.frames)
    if n_frames < config.min_frames:
        raise UserError(f"only {n_frames} frames; the MSD analysis needs at least {config.min_frames}", str(run.path))
    interval = run.info.frame_interval_ps
    if not interval > 0:
        raise UserError(f"frame_interval_ps must be positive, got {interval}", str(run.path))
    atoms = run.frames[0]
    symbols = np.array(atoms.get_chemical_symbols())
    li = np.flatnonzero(symbols == "Li")
    if len(li) == 0 and not molecules:
        raise UserError("neither Li nor solvent molecules: nothing to diffuse", str(run.path))
    if regions is None:
        regions = {name: (np.asarray(idx, int), {}) for name, idx in run.info.phases.items()}
    disp = unwrapped_displacements(run.frames)
    others = np.setdiff1d(np.arange(len(atoms)), li)
    drift = disp[:, others].mean(axis=1) if len(others) and len(li) else None
    temperature = run.info.temperature_K
    volumes = np.array([f.get_volume() for f in run.frames])
    volume = float(volumes.mean())
    eta = _viscosity(config, run.info.system)
    quantities: dict = {}
    tables: dict = {}
    if len(li):
        tables, d_sigma = _li_transport(disp, li, drift, interval, temperature, volumes, config, regions, quantities)
        if liquid:
            yeh_hummer(quantities["li_diffusivity"][0], temperature, volume, eta)
    if molecules:
        solvent = []
        for name, members in molecules.items():
            q, _ = tracer_diffusivity(_molecule_displacements(disp, atoms, members), interval, config)
            q.method = "centre-of-mass MSD, kinisi Bayesian regression"
            q.meta.update({"species": name, "temperature_K": temperature})
            solvent.append(yeh_hummer(q, temperature, volume, eta) if liquid else q)
        quantities["solvent_diffusivity"] = solvent
    if tables:
        _plot(tables, quantities["li_diffusivity"][0], d_sigma, run, png)
    else:
        _plot_solvent(quantities["solvent_diffusivity"], run, png)
    window = (float(run.times_ps[0]), float(run.times_ps[-1]))
    return AnalysisResult("diffusion", quantities, tables,
                          run_provenance(run, window, liquid=liquid, volume_A3=volume), [png.name])


def _li_transport(disp, li, drift, interval, temperature, volumes, config, regions, quantities) -> tuple[dict, float]:
    """Li tracer D (all + regions), conductivities, Haven ratio and concentration into ``quantities``."""
    volume = float(volumes.mean())
    d_all, msd_table = tracer_diffusivity(disp[:, li], interval, config, drift)
    d_all.meta.update({"region": "all", "temperature_K": temperature})
    diffusivities = [d_all]
    for region, (indices, meta) in regions.items():
        sel = np.intersect1d(li, indices)
        if len(sel):
            q, _ = tracer_diffusivity(disp[:, sel], interval, config, drift)
            q.meta.update({"region": region, "temperature_K": temperature, **meta})
            diffusivities.append(q)
    quantities["li_diffusivity"] = diffusivities
    d_li = disp[:, li] - (drift[:, None, :] if drift is not None else 0.0)
    estimator = kinisi_collective_diffusivity if config.eh_estimator == "kinisi" else collective_diffusivity
    q_sigma, coll_table = estimator(d_li, interval, config)
    coll_table["fit_intercept_A2"] = q_sigma.meta["msd_intercept_A2"]
    d_sigma, d_sigma_err = q_sigma.mean, q_sigma.std
    n_li = len(li)
    factor = n_li * E**2 / (volume * 1e-30 * KB * temperature)
    d_star = d_all.mean
    quantities["li_conductivity"] = [
        Quantity(factor * d_star, factor * d_all.std, "S/m", "Nernst-Einstein", {"temperature_K": temperature}),
        Quantity(factor * d_sigma, factor * d_sigma_err, "S/m", f"Einstein-Helfand ({q_sigma.method})",
                 {"temperature_K": temperature, **{k: v for k, v in q_sigma.meta.items() if k == "blocks"}}),
    ]
    if d_sigma > 0 and d_star > 0:
        haven = d_star / d_sigma
        err = haven * np.hypot(d_all.std / d_star, d_sigma_err / d_sigma)
        quantities["haven_ratio"] = Quantity(float(haven), float(err), "1", "D* / D_sigma",
                                             {"temperature_K": temperature})
    conc = n_li / (volume * 1e-30) / NA
    quantities["li_concentration"] = Quantity(conc, float(conc * volumes.std() / volume), "mol/m3",
                                              "N_Li / (N_A V)", {"temperature_K": temperature})
    return {"msd": msd_table, "collective_msd": coll_table}, d_sigma


def _plot_solvent(solvent: list[Quantity], run: Run, png: Path) -> None:
    fig, (ax,) = figure(1, 4.8, 3.6)
    ax.bar([q.meta["species"] for q in solvent], [q.mean for q in solvent], yerr=[q.std for q in solvent])
    ax.set_ylabel("centre-of-mass D (m²/s)")
    ax.set_title(f"solvent diffusion: {run.info.name}", fontsize=9)
    save_png(fig, png)


def _plot(tables: dict, d_all: Quantity, d_sigma: float, run: Run, png: Path) -> None:
    msd_table, coll_table = tables["msd"], tables["collective_msd"]
    d_star = d_all.meta.get("pbc_value", d_all.mean)
    temperature = run.info.temperature_K
    fig, axes = figure(2, 4.8, 3.6)
    t = np.array(msd_table["time_ps"])
    axes[0].errorbar(t, msd_table["msd_A2"], yerr=msd_table["msd_std_A2"], fmt=".", ms=3, label="Li MSD")
    fit_t = np.linspace(*d_all.meta["fit_window_ps"], 20)
    axes[0].plot(fit_t, 6 * d_star * 1e8 * fit_t + d_all.meta["msd_intercept_A2"],
                 label=f"fit: D* = {d_star:.2e} m²/s")
    axes[0].axvspan(*d_all.meta["fit_window_ps"], color="0.9", zorder=0, label="fit window")
    axes[0].set_xlabel("lag time (ps)")
    axes[0].set_ylabel("MSD (Å²)")
    axes[0].legend(fontsize=7)
    tc = np.array(coll_table["time_ps"])
    what = (f"mean of blocks of {coll_table['block_frames']} frames" if "block_frames" in coll_table
            else "whole run (kinisi)")
    axes[1].errorbar(tc, coll_table["msd_A2"], yerr=coll_table.get("msd_stderr_A2"), fmt=".", ms=3,
                     label=f"collective / N, {what}")
    window = coll_table.get("fit_window_ps", [tc[0], tc[-1]])
    fit_t = np.linspace(window[0], window[1], 20)
    axes[1].plot(fit_t, 6 * d_sigma * 1e8 * fit_t + coll_table.get("fit_intercept_A2", 0.0),
                 label=f"fit: D_σ = {d_sigma:.2e} m²/s")
    axes[1].axvspan(window[0], window[1], color="0.9", zorder=0, label="fit window")
    axes[1].set_xlabel("lag time (ps)")
    axes[1].set_ylabel("|Σ Δr|² / N (Å²)")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"diffusion: {run.info.name} at {temperature:g} K", fontsize=9)
    save_png(fig, png)
