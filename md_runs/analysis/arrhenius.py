"""Arrhenius fit over temperatures: ln D = ln D0 - Ea / (R T).

Two estimators, chosen by ``AnalysisConfig.arrhenius_estimator``:

- ``wls`` (default): weighted least squares of ln D vs 1/T, weights 1/sigma_lnD^2 with
  sigma_lnD = sigma_D / D. The parameter covariance is (X^T W X)^-1, scaled by the reduced chi^2
  when that exceeds 1 (scatter beyond the reported errors widens the error of Ea, never narrows it).
- ``kinisi``: kinisi's ``Arrhenius`` analyser (Gaussian likelihood of D itself, emcee MCMC). Its
  own start (maximum likelihood from Ea = 1 eV, D0 = 1) diverges on D(T) data (Ea -7.7e7 eV,
  then NaN posteriors: measured), so it gets uniform / log-uniform priors 8 sigma wide around the
  WLS fit.

Why ``wls`` stays the default, measured on the same synthetic data (``benchmarks/bench_arrhenius.py``,
seeded lognormal D(T), Ea = 0.5 eV, 10 seeds; table in ``md_runs/analysis/README.md``): both give
the same Ea (mean difference 0.003 eV at 10 % errors on D, 0.03 eV at 40 %, inside the error),
but the WLS error bars are the honest ones (RMS z 0.97 at 4 temperatures and 1.10 at 2, against
kinisi's 1.19 at 10 % errors and 0.54 at 2 temperatures: too narrow, then twice too wide), at no
cost against ~30 s of MCMC per fit, and WLS answers for points without errors (it weighs them
equally and takes the error from the scatter; kinisi needs a variance on every point).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from mlip.errors import UserError

R = 8.314462618            # J/(mol K)
EV_PER_J_MOL = 1.0 / 96485.33212


def _checked(temperatures_K, values, stds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, d, s = (np.asarray(x, float) for x in (temperatures_K, values, stds))
    if len(t) < 2 or len(np.unique(t)) < 2:
        raise UserError("an Arrhenius fit needs at least two different temperatures", "arrhenius")
    if (d <= 0).any() or not np.isfinite(d).all():
        raise UserError("an Arrhenius fit needs positive, finite values", "arrhenius")
    return t, d, s


def arrhenius_fit(temperatures_K, values, stds) -> dict[str, float]:
    """Ea (J/mol) and ln D0 with their standard errors, chi^2/dof, from values and their stds
    (weighted least squares of ln D vs 1/T; see the module doc)."""
    t, d, s = _checked(temperatures_K, values, stds)
    sigma = np.where(np.isfinite(s) & (s > 0), s / d, np.nan)
    if np.isnan(sigma).any():  # no error estimate: equal weights from the scatter
        sigma = np.ones_like(d)
        absolute = False
    else:
        absolute = True
    x = np.column_stack([np.ones_like(t), -1.0 / (R * t)])
    w = 1.0 / sigma**2
    cov = np.linalg.inv(x.T @ (w[:, None] * x))
    ln_d0, ea = cov @ (x.T @ (w * np.log(d)))
    resid = np.log(d) - x @ np.array([ln_d0, ea])
    dof = len(t) - 2
    chi2 = float((w * resid**2).sum() / dof) if dof > 0 else float("nan")
    if not absolute or (dof > 0 and chi2 > 1):
        cov = cov * (chi2 if dof > 0 else 1.0)
    return {"Ea_J_mol": float(ea), "Ea_std_J_mol": float(np.sqrt(cov[1, 1])), "ln_D0": float(ln_d0),
            "ln_D0_std": float(np.sqrt(cov[0, 0])), "reduced_chi2": chi2,
            "method": "weighted least squares of ln D vs 1/T"}


def kinisi_arrhenius_fit(temperatures_K, values, stds, samples: int = 500, seed: int = 0) -> dict[str, float]:
    """The same quantities as :func:`arrhenius_fit` from kinisi's ``Arrhenius`` MCMC (posterior mean
    and std); points without errors fall back to :func:`arrhenius_fit` (kinisi needs variances)."""
    import contextlib
    import io

    import scipp as sc
    from kinisi.arrhenius import Arrhenius
    from scipy.stats import loguniform, uniform

    t, d, s = _checked(temperatures_K, values, stds)
    wls = arrhenius_fit(t, d, s)
    if not (np.isfinite(s) & (s > 0)).all():
        return {**wls, "method": wls["method"] + " (kinisi needs an error on every point)"}
    scale = float(np.exp(np.log(d).mean()))  # D ~ 1 for the optimiser
    ea, ea_std = wls["Ea_J_mol"] * EV_PER_J_MOL, max(wls["Ea_std_J_mol"] * EV_PER_J_MOL, 1e-6)
    ln_a, ln_a_std = wls["ln_D0"] - np.log(scale), max(wls["ln_D0_std"], 1e-6)
    low = max(0.0, ea - 8 * ea_std)
    priors = [uniform(low, ea + 8 * ea_std - low), loguniform(np.exp(ln_a - 8 * ln_a_std), np.exp(ln_a + 8 * ln_a_std))]
    data = sc.DataArray(sc.array(dims=["temperature"], values=d / scale, variances=(s / scale) ** 2, unit="cm^2/s"),
                        coords={"temperature": sc.array(dims=["temperature"], values=t, unit="K")})
    state = np.random.get_state()
    np.random.seed(seed)  # kinisi and emcee draw from numpy's global generator
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # emcee's progress bar is always on
            fit = Arrhenius(data, priors=priors)
            start = (sc.scalar(ea, unit="eV"), sc.scalar(float(np.exp(ln_a)), unit="cm^2/s"))
            fit.mcmc(x0=start, n_samples=samples, n_burn=samples, n_thin=5)  # walkers start at the WLS fit
    finally:
        np.random.set_state(state)
    e_samples = np.asarray(fit.activation_energy.values, float)
    ln_pref = np.log(np.asarray(fit.preexponential_factor.values, float)) + np.log(scale)
    return {"Ea_J_mol": float(e_samples.mean() / EV_PER_J_MOL), "Ea_std_J_mol": float(e_samples.std(ddof=1) / EV_PER_J_MOL),
            "ln_D0": float(ln_pref.mean()), "ln_D0_std": float(ln_pref.std(ddof=1)),
            "reduced_chi2": wls["reduced_chi2"], "method": "kinisi Arrhenius MCMC (priors 8 sigma around the WLS fit)"}


#: symbol and unit of the y axis, ln(value / unit), by the quantity's unit
AXIS_SYMBOLS = {"m2/s": ("D", "m² s⁻¹"), "S/m": ("σ", "S m⁻¹"), "m/s": ("v", "m s⁻¹")}


def log_axis_label(of: str, unit: str) -> str:
    """``ln(D / m² s⁻¹)`` for a diffusivity, ``ln(σ / S m⁻¹)`` for a conductivity: what is logged."""
    symbol, pretty = AXIS_SYMBOLS.get(unit, (of.replace("_", " "), unit))
    return f"ln({symbol} / {pretty})   [{of.replace('_', ' ')}]"


def fit_points(points: list[Quantity], estimator: str = "wls", samples: int = 500, seed: int = 0) -> dict[str, float]:
    """The Arrhenius fit of one quantity per temperature by ``estimator`` (wls or kinisi)."""
    args = ([q.meta["temperature_K"] for q in points], [q.mean for q in points],
            [q.std if q.std is not None else np.nan for q in points])
    return kinisi_arrhenius_fit(*args, samples=samples, seed=seed) if estimator == "kinisi" else arrhenius_fit(*args)


def arrhenius_result(system: str, of: str, points: list[Quantity], provenance: dict, png: Path,
                     estimator: str = "wls", samples: int = 500, seed: int = 0) -> AnalysisResult:
    """Arrhenius result for ``of`` (e.g. li_diffusivity) from one quantity per temperature."""
    points = sorted(points, key=lambda q: q.meta["temperature_K"])
    temps = [q.meta["temperature_K"] for q in points]
    fit = fit_points(points, estimator, samples, seed)
    ea = Quantity(fit["Ea_J_mol"], fit["Ea_std_J_mol"], "J/mol", fit["method"],
                  {"of": of, "system": system, "Ea_eV": fit["Ea_J_mol"] * EV_PER_J_MOL,
                   "Ea_std_eV": fit["Ea_std_J_mol"] * EV_PER_J_MOL, "ln_prefactor": fit["ln_D0"],
                   "ln_prefactor_std": fit["ln_D0_std"], "reduced_chi2": fit["reduced_chi2"],
                   "temperatures_K": temps})
    inv_t = 1000.0 / np.array(temps)
    vals = np.array([q.mean for q in points])
    errs = np.array([q.std or 0.0 for q in points])
    fig, (ax,) = figure(1, 5.2, 4.0)
    ax.errorbar(inv_t, np.log(vals), yerr=errs / vals, fmt="o", label="MD (±1σ)")
    pad = 0.05 * np.ptp(inv_t)
    grid = np.linspace(inv_t.min() - pad, inv_t.max() + pad, 50)
    ax.plot(grid, fit["ln_D0"] - fit["Ea_J_mol"] * grid / (1000.0 * R),
            label=f"Ea = {ea.meta['Ea_eV']:.3f} ± {ea.meta['Ea_std_eV']:.3f} eV")
    ax.set_xlabel("1000 / T (K⁻¹)")
    ax.set_ylabel(log_axis_label(of, points[0].unit))
    top = ax.secondary_xaxis("top", functions=(lambda x: 1000.0 / np.clip(x, 1e-9, None),
                                               lambda t: 1000.0 / np.clip(t, 1e-9, None)))
    top.set_xticks(temps)
    top.set_xticklabels([f"{t:g}" for t in temps], fontsize=7)
    top.set_xlabel("T (K)", fontsize=8)
    ax.set_title(f"Arrhenius: {system}", fontsize=9)
    ax.legend(fontsize=7)
    save_png(fig, png)
    return AnalysisResult("arrhenius", {"activation_energy": ea, of: points},
                          {"arrhenius": {"T_K": temps, "inv_T_1000_per_K": inv_t.tolist(),
                                         "value": vals.tolist(), "std": errs.tolist()}},
                          provenance, [png.name])
