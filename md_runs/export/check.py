"""``check_pybamm``: run PyBaMM on an export and propagate its uncertainty to capacity and SEI growth.

When PyBaMM cannot run at the exported values at all (e.g. an SEI resistivity that no current
can pass), the parameters the plausibility check flagged are reverted to the base set's values,
and the check says so first in its warnings (:func:`feasible_reversion`).

Runs are at the exported means and at +-1 sigma of each uncertain parameter the SEI option uses
(one at a time; band = mean +- the root-sum-square of half the +-1 sigma spreads), or at ``samples``
joint log-normal draws (band = 16th-84th percentile). Positive parameters are perturbed in log
space: ``x * exp(+-s)`` with ``s`` the export's ``log_std``, so a large uncertainty never makes a
diffusivity negative.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from md_runs.export import names as N
from md_runs.export.pybamm_json import base_parameter_values, load_parameter_values, read_export
from md_runs.export.temperature import log_std
from mlip.errors import UserError
from mlip.utils import atomic_path, provenance, write_json_atomic

SEI_THICKNESS = "X-averaged negative SEI thickness [m]"


def default_cycle(base: str) -> list[str]:
    p = base_parameter_values(base)
    v_lo, v_hi = float(p["Lower voltage cut-off [V]"]), float(p["Upper voltage cut-off [V]"])
    return [f"Discharge at 1C until {v_lo:g} V", f"Charge at 1C until {v_hi:g} V",
            f"Hold at {v_hi:g} V until C/20"]


def _log_std(entry: dict[str, Any]) -> float | None:
    if entry.get("log_std"):
        return float(entry["log_std"])
    return log_std(entry["mean"], entry.get("std"))


def plan_runs(doc: dict[str, Any], option: str, samples: int, seed: int,
              reverted: dict[str, float] | None = None) -> list[tuple[str, dict]]:
    """(label, parameter overrides) of every PyBaMM run; the first is at the means. ``reverted``
    parameters are held at the given (base-set) values in every run."""
    reverted = dict(reverted or {})
    uncertain = {n: (doc["uncertainty"][n]["mean"], _log_std(doc["uncertainty"][n]))
                 for n in N.SEI_OPTION_USES[option] if n in doc["uncertainty"] and n not in reverted}
    uncertain = {n: v for n, v in uncertain.items() if v[1]}
    base = base_parameter_values(doc["base"])
    t_ref = float(doc["parameters"].get(N.T_REF, base[N.T_REF]))
    if all(abs(float(base[k]) - t_ref) < 1e-6 for k in ("Ambient temperature [K]", "Initial temperature [K]")):
        uncertain.pop(N.E_SEI, None)  # isothermal at T_ref: the Arrhenius factor is 1 whatever Ea is
    runs: list[tuple[str, dict]] = [("mean", dict(reverted))]
    if samples:
        rng = np.random.default_rng(seed)
        for i in range(samples):
            runs.append((f"sample {i + 1}", {**reverted, **{n: m * math.exp(s * rng.standard_normal())
                                                            for n, (m, s) in uncertain.items()}}))
    else:
        for n, (m, s) in uncertain.items():
            runs += [(f"{n} +1 sigma", {**reverted, n: m * math.exp(s)}),
                     (f"{n} -1 sigma", {**reverted, n: m * math.exp(-s)})]
    return runs


def feasible_reversion(doc: dict[str, Any], option: str, solve) -> tuple[dict[str, float], str | None]:
    """({}, None) when PyBaMM runs at the exported values; else the implausible parameters
    (:mod:`md_runs.export.plausibility`) reverted to the base set's values, and why the export
    itself could not run. Raises the solver's error when reverting does not help."""
    try:
        solve({})
        return {}, None
    except UserError as exc:
        judged = doc.get("plausibility") or {}
        revert = {n: float(v["base_value"]) for n, v in judged.items()
                  if v.get("plausible") is False and v.get("base_value") is not None
                  and n in N.SEI_OPTION_USES[option]}
        if not revert:
            raise
        try:
            solve(revert)
        except UserError as again:
            raise UserError(f"{exc}; it still fails with {', '.join(revert)} reverted to {doc['base']}: {again}") from None
        return revert, str(exc)


def checkable_option(doc: dict[str, Any], sei_option: str | None, where: str | None = None) -> str:
    """The SEI option to check an export with, or a clear error if it cannot be checked."""
    option = sei_option or doc.get("sei_option")
    if option is None:
        raise UserError("the export has no SEI diffusivity (li_diffusivity or solvent_diffusivity in the "
                        "SEI), so no SEI growth option can be checked", where)
    for need in N.SEI_OPTION_NEEDS.get(option, ()):
        if need not in doc["parameters"]:
            raise UserError(f"SEI option '{option}' needs '{need}', which the export does not provide", where)
    return option


def make_experiment(steps: list[str], cycles: int):
    import pybamm

    try:
        return pybamm.Experiment([tuple(steps)] * cycles)
    except Exception as exc:  # pybamm raises ValueError/TypeError/its own on a bad step string
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise UserError(f"invalid experiment step in cycle {steps}: {lines[-1] if lines else exc}") from None


def _solve(path: Path, overrides: dict, option: str, model_name: str, steps: list[str],
           cycles: int, doc: dict) -> dict[str, Any]:
    import pybamm

    values = load_parameter_values(path, overrides)
    model = getattr(pybamm.lithium_ion, model_name)({"SEI": option})
    used = {n: values[n] for n in N.SEI_OPTION_USES[option] if n in values.keys()}
    shown = ", ".join(f"{n} = {v:.4g}" for n, v in used.items() if not callable(v))
    experiment = make_experiment(steps, cycles)
    try:
        sol = pybamm.Simulation(model, parameter_values=values, experiment=experiment).solve()
    except (pybamm.SolverError, pybamm.ModelError, ArithmeticError, ValueError) as exc:
        raise UserError(f"PyBaMM {model_name} with SEI option '{option}' failed "
                        f"({type(exc).__name__}: {str(exc)[:200]}) with {shown}") from None
    summary = sol.summary_variables if sol is not None else None
    n_done = 0 if summary is None else len(summary.cycle_number)
    if n_done == 0:
        term = getattr(sol, "termination", "no solution")
        raise UserError(f"PyBaMM {model_name} with SEI option '{option}' completed no cycle "
                        f"({term}) with {shown}")
    return {
        "time_h": sol["Time [h]"].entries.tolist(),
        "sei_thickness_m": np.asarray(sol[SEI_THICKNESS].entries, dtype=float).ravel().tolist(),
        "cycle": [int(c) for c in summary.cycle_number],
        "capacity_Ah": [float(c) for c in summary["Capacity [A.h]"]],
        "sei_capacity_loss_Ah": [float(c) for c in summary["Loss of capacity to negative SEI [A.h]"]],
        "cycles_completed": n_done, "termination": str(sol.termination),
    }


def _band(runs: list[dict], key: str, x_of, grid: np.ndarray, sampled: bool) -> dict[str, list]:
    ys = np.array([np.interp(grid, x_of(r), r[key]) for r in runs])
    mean = ys[0]
    if len(ys) == 1:
        lo = hi = mean
    elif sampled:
        lo, hi = np.percentile(ys, [15.87, 84.13], axis=0)
    else:
        half = (ys[1::2] - ys[2::2]) / 2.0
        spread = np.sqrt(np.sum(half ** 2, axis=0))
        lo, hi = mean - spread, mean + spread
    return {"x": grid.tolist(), "mean": mean.tolist(), "lower": np.asarray(lo).tolist(),
            "upper": np.asarray(hi).tolist()}


def _draw(ax, band: dict, runs: list[dict], x_key, key: str, scale: float, per_cycle: bool,
          offset: float = 0.0) -> None:
    """Perturbed runs (grey), the uncertainty band and the exported means, ``scale * (y - offset)``."""
    x = np.array(band["x"])
    for i, r in enumerate(runs[1:]):
        ax.plot(x_key(r), (np.array(r[key]) - offset) * scale, color="0.75", lw=0.7,
                label="perturbed runs" if i == 0 else None)
    ax.fill_between(x, (np.array(band["lower"]) - offset) * scale, (np.array(band["upper"]) - offset) * scale,
                    color="tab:blue", alpha=0.3, label="uncertainty band")
    ax.plot(x, (np.array(band["mean"]) - offset) * scale, color="tab:blue", lw=2, label="exported means",
            marker="o" if per_cycle else None)
    if per_cycle:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _plot(path: Path, band: dict, runs: list[dict], x_key, key: str, xlabel: str, ylabel: str,
          scale: float, title: str, per_cycle: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    _draw(ax, band, runs, x_key, key, scale, per_cycle)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    _save(fig, path)


def _plot_capacity(path: Path, band: dict, runs: list[dict], x_key, nominal: float, base: str,
                   title: str) -> None:
    """Left: capacity per cycle on the scale of the nominal capacity, with a line saying how much
    of it the SEI took in cycle 1 (a cycle-1 capacity far below nominal is explained, not hidden).
    Right: the fade itself, capacity minus cycle 1's, in mA.h (invisible on the absolute scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = runs[0]
    cap1, loss1 = first["capacity_Ah"][0], first["sei_capacity_loss_Ah"][0]
    fig, (ax, fade) = plt.subplots(1, 2, figsize=(11, 4.4))
    _draw(ax, band, runs, x_key, "capacity_Ah", 1.0, True)
    ax.axhline(nominal, ls=":", color="k", label=f"nominal {nominal:g} A.h ({base})")
    ax.set_ylim(0.0, 1.1 * max(nominal, float(np.max(band["upper"]))))
    ax.set(xlabel="cycle", ylabel="capacity [A.h]")
    ax.set_title(f"cycle 1: {cap1:.3g} A.h of the nominal {nominal:g} A.h; {loss1:.3g} A.h of lithium\n"
                 "went into the SEI by its end" + (" (far below nominal: see check.json warnings)"
                                                   if cap1 < 0.8 * nominal else ""), fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    _draw(fade, band, runs, x_key, "capacity_Ah", 1000.0, True, offset=float(band["mean"][0]))
    fade.axhline(0.0, color="k", lw=0.6)
    fade.set(xlabel="cycle", ylabel="capacity − capacity of cycle 1 [mA.h]")
    fade.set_title("capacity fade (exported means: cycle 1 = 0)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def check_pybamm(export_path: str | os.PathLike, out_dir: str | os.PathLike, *, model: str = "SPM",
                 sei_option: str | None = None, cycle: list[str] | None = None, cycles: int = 3,
                 samples: int = 0, seed: int = 0) -> dict[str, Any]:
    """Run PyBaMM on the export; write check.json, capacity_fade.png, sei_thickness.png."""
    from rich.progress import Progress

    export_path, out_dir = Path(export_path), Path(out_dir)
    doc = read_export(export_path)
    option = checkable_option(doc, sei_option, str(export_path))
    if model not in ("SPM", "DFN"):
        raise UserError(f"model must be SPM or DFN, got '{model}'")
    steps = list(cycle) if cycle else default_cycle(doc["base"])
    reverted, infeasible = feasible_reversion(
        doc, option, lambda over: _solve(export_path, over, option, model, steps, min(cycles, 1), doc))
    plan = plan_runs(doc, option, samples, seed, reverted)
    results = []
    with Progress(transient=True) as bar:
        task = bar.add_task(f"PyBaMM {model} ({option})", total=len(plan))
        for label, overrides in plan:
            run = _solve(export_path, overrides, option, model, steps, cycles, doc)
            results.append({"label": label, "overrides": overrides, **run})
            bar.advance(task)
    sampled = samples > 0
    n_common = min(r["cycles_completed"] for r in results)
    cyc = np.arange(1, n_common + 1, dtype=float)
    t_end = min(r["time_h"][-1] for r in results)
    t_grid = np.linspace(0.0, t_end, 200)
    cyc_of = lambda r: np.array(r["cycle"], dtype=float)  # noqa: E731
    bands = {"capacity_Ah_vs_cycle": _band(results, "capacity_Ah", cyc_of, cyc, sampled),
             "sei_capacity_loss_Ah_vs_cycle": _band(results, "sei_capacity_loss_Ah", cyc_of, cyc, sampled),
             "sei_thickness_m_vs_time_h": _band(results, "sei_thickness_m",
                                                lambda r: np.array(r["time_h"]), t_grid, sampled)}
    warnings = [f"run '{r['label']}' completed {r['cycles_completed']} of {cycles} cycles "
                f"({r['termination']})" for r in results if r["cycles_completed"] < cycles]
    if infeasible:
        warnings.insert(0, f"PyBaMM cannot run at the exported values ({infeasible}); this check ran with the "
                           f"implausible {', '.join(reverted)} reverted to {doc['base']}'s values, so its curves "
                           "are not the export's prediction")
    warnings += [f"UNVALIDATED parameter '{name}': {'; '.join(why)} (exported with --allow-unvalidated)"
                 for name, why in (doc.get("validation") or {}).get("unvalidated", {}).items()]
    from md_runs.export.plausibility import warnings_of

    warnings += warnings_of(doc.get("plausibility") or {})
    nominal = float(base_parameter_values(doc["base"])["Nominal cell capacity [A.h]"])
    lost = results[0]["sei_capacity_loss_Ah"][-1]
    if lost > 0.2 * nominal:
        warnings.append(f"at the exported means the SEI consumes {lost:.3g} A.h ({100 * lost / nominal:.0f} % of "
                        f"the nominal {nominal:g} A.h) in {results[0]['cycles_completed']} cycles: far from a real "
                        "cell; check the exported diffusivity and concentration (nothing was clipped)")
    report = {
        "export": str(export_path), "model": model, "sei_option": option, "cycle": steps,
        "cycles": cycles, "propagation": (f"{samples} joint log-normal samples (band: 16-84 %)"
                                          if sampled else "mean and +-1 sigma of each uncertain "
                                          "parameter (log-normal), band: root-sum-square"),
        "uncertain_parameters": sorted({k for r in results for k in r["overrides"]} - set(reverted)),
        "reverted_to_base": reverted, "infeasible_at_export": infeasible,
        "bands": bands, "runs": results, "warnings": warnings, "provenance": provenance(seed),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{doc['base']} + MD SEI ({option})" + (
        f"; PyBaMM could not run the export: {len(reverted)} implausible values held at {doc['base']}'s"
        if reverted else "")
    _plot_capacity(out_dir / "capacity_fade.png", bands["capacity_Ah_vs_cycle"], results, cyc_of, nominal,
                   doc["base"], title)
    _plot(out_dir / "sei_thickness.png", bands["sei_thickness_m_vs_time_h"], results,
          lambda r: np.array(r["time_h"]), "sei_thickness_m", "time [h]", "SEI thickness [nm]", 1e9, title)
    write_json_atomic(out_dir / "check.json", report)
    return report
