"""Density and partial molar volume of an SEI phase from the NPT equilibration of a run.

Volumes come from ``equilibration/thermo.csv`` (column ``volume_A3``), averaged over its last
``profile_window_fraction`` with a block-average error; the mass and the number of formula units
(``formula_unit`` in run.json) from the run's first frame.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from ase.formula import Formula

from md_runs.analysis.common import block_mean, run_provenance, window_start
from md_runs.analysis.config import AnalysisConfig
from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.trajectory import Run, read_thermo_csv
from md_runs.builders.defects import LI_EXCESS
from mlip.errors import UserError

AMU_KG = 1.66053906660e-27
NA = 6.02214076e23
EQUILIBRATION_THERMO = Path("equilibration") / "thermo.csv"
#: a volume changing by less than this fraction over the averaging window counts as equilibrated
EQUILIBRATED_VOLUME_CHANGE = 0.01


def formula_units(symbols: list[str], formula_unit: str, where: str, li_excess: int = 0) -> int:
    """How many ``formula_unit`` the composition holds (an error if it is not a whole multiple),
    ``li_excess`` Li atoms of a point defect aside (+1 for an interstitial, -1 for a vacancy)."""
    try:
        unit = Formula(formula_unit).count()
    except ValueError:
        raise UserError(f"formula_unit {formula_unit!r} is not a chemical formula", where) from None
    have = Counter(symbols)
    if li_excess:
        have["Li"] -= li_excess
    ratios = {el: have.get(el, 0) / n for el, n in unit.items()}
    n_fu = min(ratios.values())
    if n_fu < 1 or any(abs(r - n_fu) > 1e-9 for r in ratios.values()):
        raise UserError(f"composition {dict(have)} is not a whole number of {formula_unit}", where)
    return int(round(n_fu))


def density_result(run: Run, config: AnalysisConfig, png: Path) -> AnalysisResult:
    """Mass density (kg/m3); with ``formula_unit`` also partial molar volume and Li per unit."""
    thermo = read_thermo_csv(run.path / EQUILIBRATION_THERMO)
    where = str(run.path / EQUILIBRATION_THERMO)
    if "volume_A3" not in thermo or len(thermo["volume_A3"]) < 2:
        raise UserError("needs a volume_A3 column with at least two rows", where)
    vol = thermo["volume_A3"]
    time = thermo.get("time_ps", np.arange(len(vol), dtype=float))
    start = window_start(len(vol), config.profile_window_fraction)
    v_mean, v_err = block_mean(vol[start:], config.blocks)
    atoms = run.frames[0]
    mass = float(atoms.get_masses().sum()) * AMU_KG
    rho = mass / (v_mean * 1e-30)
    temperature = run.info.temperature_K
    # a volume still drifting over the window is not an equilibrium density: say so in the meta
    t_win = time[start:]
    drift = float(np.polyfit(t_win, vol[start:], 1)[0]) if np.ptp(t_win) > 0 else 0.0
    change = abs(drift * float(np.ptp(t_win)))
    equilibrated = bool(change < max(3 * v_err, EQUILIBRATED_VOLUME_CHANGE * v_mean))
    meta = {"temperature_K": temperature, "system": run.info.system, "equilibrated": equilibrated,
            "volume_drift_A3_per_ps": drift}
    method = "NPT mean volume" if np.ptp(vol) > 0 else "fixed volume (the equilibration was not NPT)"
    quantities: dict = {"density": Quantity(rho, rho * v_err / v_mean, "kg/m3", method, dict(meta))}
    if run.info.formula_unit:
        # a defect run's cell is its host crystal plus (or minus) the defect's Li
        defect = run.info.provenance.get("defect")
        excess = LI_EXCESS.get(str(defect), 0) * int(run.info.provenance.get("n_defects", 1)) if defect else 0
        n_fu = formula_units(atoms.get_chemical_symbols(), run.info.formula_unit, str(run.path), excess)
        vm = v_mean * 1e-30 * NA / n_fu
        meta["formula_unit"] = run.info.formula_unit
        quantities["partial_molar_volume"] = Quantity(vm, vm * v_err / v_mean, "m3/mol", "V N_A / n_formula_units",
                                                      {**meta, "formula_units": n_fu})
        li = Formula(run.info.formula_unit).count().get("Li", 0)
        quantities["li_to_sei_ratio"] = Quantity(float(li), 0.0, "1", "stoichiometry of formula_unit", dict(meta))
    fig, (ax,) = figure(1, 5.4, 3.9)
    ax.plot(time, vol, lw=1, label="volume")
    ax.axvspan(time[start], time[-1], alpha=0.15, label="averaged window")
    ax.axhline(v_mean, ls="--", color="k", label=f"⟨V⟩ = {v_mean:.4g} Å³")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("volume (Å³)")
    # the density is read on its own axis (the same curve: ρ = m / V), never off the volume axis
    to_rho = mass / 1e-30 / 1000.0  # g/cm³ times Å³
    right = ax.secondary_yaxis("right", functions=(lambda v: to_rho / np.clip(v, 1e-9, None),
                                                   lambda r: to_rho / np.clip(r, 1e-9, None)))
    right.set_ylabel("density ρ = m / V (g/cm³)")
    ax.set_title(f"NPT volume: {run.info.name}, ρ = {rho / 1000:.4g} ± {rho * v_err / v_mean / 1000:.2g} g/cm³"
                 + ("" if equilibrated else " (still drifting)"), fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    save_png(fig, png)
    return AnalysisResult("density", quantities, {"volume": {"time_ps": time.tolist(), "volume_A3": vol.tolist()}},
                          run_provenance(run, (float(time[start]), float(time[-1])),
                                         thermo=str(EQUILIBRATION_THERMO)), [png.name])
