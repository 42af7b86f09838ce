"""Arrhenius fit over temperatures: weighted least squares of ln D vs 1/T.

ln D = ln D0 - Ea / (R T), weights 1/sigma_lnD^2 with sigma_lnD = sigma_D / D. The parameter
covariance is (X^T W X)^-1, scaled by the reduced chi^2 when that exceeds 1 (scatter beyond the
reported errors widens the error of Ea, never narrows it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from mlip.errors import UserError

R = 8.314462618            # J/(mol K)
EV_PER_J_MOL = 1.0 / 96485.33212


def arrhenius_fit(temperatures_K, values, stds) -> dict[str, float]:
    """Ea (J/mol) and ln D0 with their standard errors, chi^2/dof, from values and their stds."""
    t = np.asarray(temperatures_K, float)
    d = np.asarray(values, float)
    s = np.asarray(stds, float)
    if len(t) < 2 or len(np.unique(t)) < 2:
        raise UserError("an Arrhenius fit needs at least two different temperatures", "arrhenius")
    if (d <= 0).any() or not np.isfinite(d).all():
        raise UserError("an Arrhenius fit needs positive, finite values", "arrhenius")
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
            "ln_D0_std": float(np.sqrt(cov[0, 0])), "reduced_chi2": chi2}


#: symbol and unit of the y axis, ln(value / unit), by the quantity's unit
AXIS_SYMBOLS = {"m2/s": ("D", "m² s⁻¹"), "S/m": ("σ", "S m⁻¹"), "m/s": ("v", "m s⁻¹")}


def log_axis_label(of: str, unit: str) -> str:
    """``ln(D / m² s⁻¹)`` for a diffusivity, ``ln(σ / S m⁻¹)`` for a conductivity: what is logged."""
    symbol, pretty = AXIS_SYMBOLS.get(unit, (of.replace("_", " "), unit))
    return f"ln({symbol} / {pretty})   [{of.replace('_', ' ')}]"


def arrhenius_result(system: str, of: str, points: list[Quantity], provenance: dict, png: Path) -> AnalysisResult:
    """Arrhenius result for ``of`` (e.g. li_diffusivity) from one quantity per temperature."""
    points = sorted(points, key=lambda q: q.meta["temperature_K"])
    temps = [q.meta["temperature_K"] for q in points]
    fit = arrhenius_fit(temps, [q.mean for q in points], [q.std if q.std is not None else np.nan for q in points])
    ea = Quantity(fit["Ea_J_mol"], fit["Ea_std_J_mol"], "J/mol", "weighted least squares of ln D vs 1/T",
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
