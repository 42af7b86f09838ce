"""PyBaMM's interstitial-diffusion SEI parameters from Li-interstitial runs.

- "Lithium interstitial reference concentration": the equilibrium interstitial concentration at
  the reference temperature, c(T_ref) = n_sites / V exp(-E_f / k_B T_ref) / N_A, from the formation
  energy with Li metal as the reservoir (``li_interstitial_concentration`` of a defect run; the
  cell's own single interstitial is far above equilibrium and is not used). Its log std is
  std(E_f) / k_B T_ref when the model's ensemble heads give std(E_f).
- "SEI lithium ion conductivity" and "SEI resistivity": the defect-mediated conductivity,
  Nernst-Einstein for the interstitials, sigma = c F^2 D_i / (R T) at T_ref (c and D_i as above;
  one charge carrier per interstitial, no correlation between interstitials).
- When MD saw too few hops at every temperature, the interstitial diffusivity and the growth
  activation energy come from the NEB barrier and harmonic TST (:mod:`md_runs.analysis.defect_tst`)
  instead, marked as such.
"""

from __future__ import annotations

import math

from md_runs.export.inputs import Point
from md_runs.export.temperature import Estimate, linear_std

from md_runs.analysis.defects import K_B_EV, equilibrium_concentration
from md_runs.export.temperature import R_GAS

FARADAY = 96485.33212   # C/mol
EV_J_MOL = FARADAY      # J/mol per eV (the same number: e N_A)


def interstitial_concentration(points: list[Point], t_ref: float) -> tuple[Estimate, list[Point]] | None:
    used = [p for p in points if p.name == "li_interstitial_concentration" and p.region in ("sei", "unknown")]
    if not used:
        return None
    p = used[0]
    e_f, e_std, n = p.meta["formation_energy_eV"], p.meta.get("formation_energy_std_eV"), p.meta["site_density_m3"]
    mean = equilibrium_concentration(e_f, t_ref, n)
    s = None if e_std is None else e_std / (K_B_EV * t_ref)
    notes = [f"equilibrium interstitial concentration at {t_ref:g} K from the formation energy E_f = {e_f:.3f} eV "
             f"(Li metal reservoir) and {n:.3g} interstitial sites per m3 ({p.meta.get('approximations', '')})"]
    if s is None:
        notes.append("no std: the model has no ensemble heads to give the uncertainty of E_f")
    std = linear_std(mean, s)
    return Estimate(mean, std, "n_sites/V exp(-E_f/k_B T_ref)/N_A", s, notes,
                    {"formation_energy_eV": e_f, "formation_energy_std_eV": e_std}), used


def too_few_hops_everywhere(used: list[Point]) -> bool:
    return bool(used) and all(p.meta.get("enough_hops") is False for p in used)


def tst_estimates(used: list[Point], t_ref: float) -> tuple[Estimate, Estimate] | None:
    """(D_i at T_ref, E_m in J/mol) from the runs' NEB/TST record, marked as the fallback."""
    tst = next((p.meta["tst"] for p in used if p.meta.get("tst")), None)
    if not tst:
        return None
    from md_runs.analysis.defect_tst import hop_tst_from_dict

    hop = hop_tst_from_dict(tst)
    runs = {p.path: p for p in used if p.result.kind == "defect_transport"} or {p.path: p for p in used}
    hops = ", ".join(f"{p.meta.get('n_hops')} at {p.temperature_K:g} K"
                     for p in sorted(runs.values(), key=lambda q: q.temperature_K or 0.0))
    why = (f"MD saw too few hops ({hops}; {used[0].meta.get('min_hops', 20)} needed): exported the NEB barrier "
           f"{hop.barrier_eV:.3f} eV and harmonic-TST prefactor {hop.attempt_frequency_Hz:.3g} Hz instead "
           f"({hop.approximations})")
    bare = ("no error bar: one NEB barrier and prefactor with one model (the seeds of the MD runs do not enter; "
            "run MD long or hot enough for 20 hops per temperature to get one)")
    d = Estimate(hop.diffusivity(t_ref), None, f"harmonic TST at {t_ref:g} K from the NEB hop barrier (MD too short)",
                 None, [why, bare, *hop.notes], {"tst": tst})
    ea = Estimate(hop.barrier_eV * EV_J_MOL, None, "NEB hop barrier of the interstitial (MD too short)", None,
                  [why], {"of": "li_interstitial_diffusivity (TST)"})
    return d, ea


def tst_cross_check(used: list[Point], ea_j_mol: float | None, t_ref: float) -> list[str]:
    tst = next((p.meta["tst"] for p in used if p.meta.get("tst")), None)
    if not tst:
        return []
    from md_runs.analysis.defect_tst import hop_tst_from_dict

    hop = hop_tst_from_dict(tst)
    md = "" if ea_j_mol is None else f" vs the MD Arrhenius Ea {ea_j_mol / EV_J_MOL:.3f} eV"
    return [f"cross-check: NEB barrier {hop.barrier_eV:.3f} eV{md}; harmonic TST gives D_i({t_ref:g} K) = "
            f"{hop.diffusivity(t_ref):.3g} m2/s"]


def defect_conductivity(d: Estimate, c: Estimate, t_ref: float) -> Estimate:
    """Nernst-Einstein conductivity of the equilibrium interstitials at T_ref (module doc)."""
    mean = c.mean * FARADAY ** 2 * d.mean / (R_GAS * t_ref)
    parts = [s for s in (d.log_std, c.log_std) if s is not None]
    s = math.sqrt(sum(x * x for x in parts)) if len(parts) == 2 else None
    notes = ["defect-mediated Nernst-Einstein conductivity sigma = c_i F^2 D_i / (R T_ref) of the equilibrium "
             "interstitials (one carrier per interstitial, uncorrelated)"]
    if s is None:
        notes.append("no std: the interstitial concentration or diffusivity has none")
    return Estimate(mean, linear_std(mean, s),
                    "c_i F^2 D_i / (R T_ref)", s, notes, {"concentration_mol_m3": c.mean, "diffusivity_m2_s": d.mean})


__all__ = ["defect_conductivity", "interstitial_concentration", "too_few_hops_everywhere", "tst_cross_check",
           "tst_estimates"]
