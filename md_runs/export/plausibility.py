"""Is an exported SEI parameter one a battery modeller would accept? Each value beside the base
set's (OKane2022 by default) and a documented plausible range.

The ranges are deliberately broad: they span what continuum SEI models and measurements use, so a
value outside one is almost certainly an artefact (a melted crystal, a run too short, every Li
counted as mobile), not a discovery. They are not a validation of a value inside them. A value
outside its range, or more than :data:`MAX_DECADES` orders of magnitude from the base set's,
carries a ``WARNING`` (in the export's provenance notes, the PyBaMM check and the quickstart
report).

Sources of the ranges (values at room temperature):

- Li interstitial diffusivity in the SEI: 1e-20 m2/s in Single et al., ChemSusChem 11 (2018) 1950
  and O'Kane et al., PCCP 24 (2022) 7909 (OKane2022); SEI Li diffusivities of 1e-22 to 1e-12 m2/s
  across models and measurements (Shi et al., JACS 134 (2012) 15476: 1e-16..1e-12 in Li2CO3).
- Li interstitial reference concentration: 15 mol/m3 (Single 2018, OKane2022); 1e-2..1e3.
- SEI growth activation energy: 3.8e4 J/mol (OKane2022); 0.15-1 eV (1.5e4-1e5 J/mol) for SEI
  growth and Li transport in LiF/Li2CO3 (MD of Li interstitials in LiF: 0.20-0.24 eV,
  arXiv 2510.05020).
- SEI ionic conductivity 1e-10..1e-3 S/m (LiF ~1e-7, Li2CO3 ~1e-6 S/m; whole SEI films
  1e-7..1e-4 S/m); the resistivity is its inverse (OKane2022: 2e5 Ohm m).
- SEI partial molar volume: 9.8e-6 (LiF) to 9.6e-5 m3/mol (OKane2022's organic SEI).
- Ratio of lithium moles to SEI moles: 1 (LiF) to 2 (Li2CO3, Li2O, LEDC).
- Solvent (EC) diffusivity through the SEI: OKane2022 2.5e-22 m2/s; 1e-24..1e-16.
- EC diffusivity in the electrolyte-side film: OKane2022 2e-18 m2/s; 1e-22..1e-14.
- Solvent and EC concentrations: 1e3..1.6e4 mol/m3 (pure EC: 1.5e4).
- Initial SEI thickness: OKane2022 5e-9 m; 1e-10..1e-7 m.
"""

from __future__ import annotations

import math
from typing import Any

from md_runs.export import names as N

#: more than this many orders of magnitude from the base set's value draws a warning
MAX_DECADES = 3.0

#: PyBaMM name -> (low, high) plausible range in the exported unit (see the module doc)
PLAUSIBLE: dict[str, tuple[float, float]] = {
    N.D_LI: (1e-22, 1e-12),
    N.C_LI0: (1e-2, 1e3),
    N.E_SEI: (1.5e4, 1e5),
    N.KAPPA_LI: (1e-10, 1e-3),
    N.R_SEI: (1e3, 1e10),
    N.V_SEI: (5e-6, 2e-4),
    N.Z_SEI: (0.5, 4.0),
    N.D_SOL: (1e-24, 1e-16),
    N.D_EC: (1e-22, 1e-14),
    N.C_SOL: (1e3, 1.6e4),
    N.C_EC0: (1e3, 1.6e4),
    N.L_SEI0: (1e-10, 1e-7),
}


def judge(name: str, value: float, base_value: float | None) -> dict[str, Any]:
    """Where ``value`` of parameter ``name`` stands against its range and the base set."""
    low, high = PLAUSIBLE.get(name, (None, None))
    out: dict[str, Any] = {"value": value, "base_value": base_value, "plausible_range": [low, high]}
    decades = None
    if base_value and base_value > 0 and value > 0:
        decades = math.log10(value / base_value)
    out["decades_from_base"] = None if decades is None else round(decades, 2)
    problems = []
    if low is not None and not low <= value <= high:
        problems.append(f"outside the plausible range {low:.3g}-{high:.3g}")
    if decades is not None and abs(decades) > MAX_DECADES:
        problems.append(f"{abs(decades):.1f} orders of magnitude {'above' if decades > 0 else 'below'} "
                        f"the base set's {base_value:.3g}")
    out["plausible"] = not problems
    if problems:
        out["warning"] = f"WARNING: {name} = {value:.3g} is {' and '.join(problems)}"
    return out


def judge_all(parameters: dict[str, float], base_values) -> dict[str, dict[str, Any]]:
    """:func:`judge` for every exported parameter (``base_values``: a mapping of the base set)."""
    def base_of(name: str) -> float | None:
        try:
            return float(base_values[name])
        except (KeyError, TypeError, ValueError):  # a function-valued or absent base parameter
            return None

    out = {}
    for name, value in parameters.items():
        if name == N.T_REF:
            continue
        base = base_of(name)
        if base is None and name == N.KAPPA_LI and base_of(N.R_SEI):  # OKane2022 gives the resistivity only
            base = 1.0 / base_of(N.R_SEI)
        out[name] = judge(name, float(value), base)
    return out


def warnings_of(plausibility: dict[str, dict[str, Any]]) -> list[str]:
    return [v["warning"] for v in plausibility.values() if v.get("warning")]


__all__ = ["MAX_DECADES", "PLAUSIBLE", "judge", "judge_all", "warnings_of"]
