"""Map analysis points to PyBaMM SEI parameters (mean, std, unit, provenance) or say why not."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from md_runs.export import names as N
from md_runs.export.defect_params import (defect_conductivity, interstitial_concentration, too_few_hops_everywhere,
                                          tst_cross_check, tst_estimates)
from md_runs.export.inputs import Point
from md_runs.export.temperature import Estimate, at_reference, linear_std, log_std
from mlip.errors import UserError

SEI_SIDE = ("sei", "unknown")
ELECTROLYTE_SIDE = ("electrolyte", "unknown")
WHAT_GIVES = {
    "li_diffusivity": "a 'diffusion' analysis of the SEI phase",
    "li_concentration": "a 'diffusion' analysis of the SEI phase",
    "li_conductivity": "a 'diffusion' (conductivity) analysis of the SEI phase",
    "solvent_diffusivity": "a 'diffusion' analysis of EC inside the SEI",
    "solvent_concentration": "a 'profiles' or 'diffusion' analysis of the bulk electrolyte",
    "partial_molar_volume": "a 'density' analysis of the SEI phase",
    "li_to_sei_ratio": "a 'density' analysis of the SEI phase",
    "activation_energy": "an 'arrhenius' analysis of the rate-limiting diffusivity",
    "sei_thickness": "a 'profiles' analysis of an interface run",
}
WHAT_GIVES_KEY = {"li_interstitial_diffusivity": "li_diffusivity"}


@dataclass
class Mapped:
    """Exported parameters (PyBaMM name -> entry) and the ones left out (name -> reason)."""

    uncertainty: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_provided: dict[str, str] = field(default_factory=dict)
    sei_option: str | None = None
    interstitial: tuple[Estimate, list[Point]] | None = None   # D_i at T_ref and its points
    tst_activation_energy: Estimate | None = None              # NEB barrier, when MD saw too few hops

    @property
    def parameters(self) -> dict[str, float]:
        return {k: v["mean"] for k, v in self.uncertainty.items()}


def _pick(points: list[Point], name: str, regions: tuple[str, ...]) -> list[Point]:
    for region in regions:
        found = [p for p in points if p.name == name and p.region == region]
        if found:
            return found
    return []


def _activation_energy(points: list[Point], of: str, like: list[Point] | None = None) -> Point | None:
    """The activation energy fitted to ``of`` for the same region and phase as ``like``."""
    found = [p for p in points if p.name == "activation_energy" and p.meta.get("of") == of]
    if like:
        found = [p for p in found if (p.region, p.phase) == (like[0].region, like[0].phase)]
    else:
        found = [p for p in found if p.region in SEI_SIDE]
    return found[0] if found else None


def _ec_only(points: list[Point]) -> list[Point]:
    """PyBaMM's solvent is EC: drop solvent diffusivities of other species (DMC ...)."""
    return [p for p in points if str(p.meta.get("species", "EC")).upper() == "EC"]


def _preferred_conductivity(points: list[Point]) -> tuple[list[Point], list[str]]:
    """Per temperature: Einstein-Helfand (true conductivity) when its relative std <= 0.5, else
    Nernst-Einstein (tracer D; no ion correlations)."""
    by_t: dict[float | None, list[Point]] = {}
    for p in points:
        by_t.setdefault(p.temperature_K, []).append(p)
    chosen, notes = [], []
    for t, group in by_t.items():
        eh = [p for p in group if "helfand" in p.quantity.method.lower() and p.mean > 0
              and p.std is not None and p.std <= 0.5 * p.mean]
        ne = [p for p in group if "nernst" in p.quantity.method.lower() and p.mean > 0]
        pick = eh[0] if eh else ne[0] if ne else group[0]
        if not eh and len(group) > 1:
            notes.append(f"at {t:g} K the Einstein-Helfand conductivity is too noisy (std > 50 %); "
                         f"used {pick.quantity.method}")
        chosen.append(pick)
    return chosen, notes


def _plain(points: list[Point], t_ref: float) -> Estimate:
    """A non-activated quantity: the value closest to ``t_ref`` (or the only one)."""
    known = [p for p in points if p.temperature_K is not None]
    p = min(known, key=lambda q: abs(q.temperature_K - t_ref)) if known else points[0]
    notes = []
    if len({round(q.mean, 12) for q in points}) > 1:
        notes.append(f"{len(points)} values supplied; used the one closest to {t_ref:g} K")
    s = log_std(p.mean, p.std)
    return Estimate(p.mean, p.std, p.quantity.method or "as measured", s, notes,
                    {"temperature_K": p.temperature_K})


def _entry(name: str, est: Estimate, used: list[Point], t_ref: float, extra_notes=()) -> dict:
    sources = list({p.path: p for p in used}.values())
    prov: dict[str, Any] = {
        "quantity": used[0].name, "method": est.method,
        "analyses": [p.path for p in sources], "kinds": sorted({p.result.kind for p in sources}),
        "region": used[0].region, "phase": used[0].phase, "reference_temperature_K": t_ref,
        **est.details,
        "notes": [*est.notes, *extra_notes],
        "source_provenance": [{k: v for k, v in p.result.provenance.items() if k != "path"}
                              for p in sources],
    }
    for flag, why in (("diffusive", "its MSD was not yet diffusive (run too short for a diffusion coefficient)"),
                      ("equilibrated", "its NPT volume was still drifting")):
        late = sorted({str(p.temperature_K) for p in used if p.quantity.meta.get(flag) is False})
        if late:
            prov["notes"].append(f"WARNING: at T = {', '.join(late)} K {why}")
    melted = sorted({f"{p.system} at {p.temperature_K:g} K, {p.quantity.meta.get('phase_state', 'melted')} ({p.path})"
                     for p in used if p.quantity.meta.get("melted")})
    if melted:  # the validation gate (md_runs.export.gate) refuses or marks these
        prov["melted_runs"] = melted
    if used[0].region == "unknown":
        prov["notes"].append("the analysis recorded no region/phase; taken as "
                             + ("bulk electrolyte" if name in (N.C_SOL, N.C_EC0) else "SEI"))
    return {"mean": est.mean, "std": est.std, "unit": N.EXPORTED_UNITS[name],
            "log_std": est.log_std, "provenance": prov}


def map_parameters(points: list[Point], t_ref: float, sei_option: str | None,
                   found: set[str] | None = None) -> Mapped:
    """Every exported PyBaMM SEI parameter from ``points``; reasons for the rest."""
    out = Mapped(not_provided=dict(N.NOT_FROM_MD))
    _diffusivities(out, points, t_ref)
    concentration = interstitial_concentration(points, t_ref)
    if concentration is not None:
        out.uncertainty[N.C_LI0] = _entry(N.C_LI0, concentration[0], concentration[1], t_ref)
    _conductivity(out, points, t_ref, concentration)
    _plain_quantities(out, points, t_ref, skip=(N.C_LI0,) if concentration else ())
    out.sei_option = _choose_option(out, sei_option)
    _growth_activation_energy(out, points, t_ref)
    if not out.uncertainty:
        names = sorted(found or {p.name for p in points}) or ["no quantities"]
        raise UserError("no quantity usable for any PyBaMM SEI parameter in these analyses "
                        f"(found: {', '.join(names)}); the exporter reads "
                        f"{', '.join(sorted(WHAT_GIVES))}")
    return out


def _missing(out: Mapped, name: str, quantity: str, why: str = "") -> None:
    out.not_provided[name] = why or f"no analysis supplied {quantity} ({WHAT_GIVES[quantity]})"


def _diffusivities(out: Mapped, points: list[Point], t_ref: float) -> None:
    """Thermally activated diffusivities, brought to t_ref (the interstitial's by NEB/TST when MD
    saw too few hops)."""
    for quantity, targets in (("li_diffusivity", (N.D_LI,)),
                              ("solvent_diffusivity", (N.D_SOL, N.D_EC))):
        notes: list[str] = []
        if quantity == "li_diffusivity":
            quantity, notes = _li_diffusivity_kind(points)
        used = _pick(_ec_only(points), quantity, SEI_SIDE)
        if not used:
            bulk = _pick(points, quantity, ("electrolyte", "mixed"))
            why = (f"only a bulk-electrolyte {quantity} was supplied; PyBaMM needs the diffusivity "
                   "through the SEI" if bulk else "")
            for t in targets:
                _missing(out, t, WHAT_GIVES_KEY.get(quantity, quantity), why)
            continue
        interstitial = quantity == "li_interstitial_diffusivity"
        tst = tst_estimates(used, t_ref) if interstitial and too_few_hops_everywhere(used) else None
        if tst is not None:
            (est, out.tst_activation_energy), notes = tst, []
        else:
            ea = _activation_energy(points, quantity, used)
            est = at_reference(used, t_ref, ea)
            if interstitial:
                notes += tst_cross_check(used, None if ea is None else ea.mean, t_ref)
            few = sorted({f"{p.temperature_K:g}" for p in used if p.quantity.meta.get("enough_hops") is False})
            if few:
                notes.append(f"WARNING: at T = {', '.join(few)} K the defect made fewer than "
                             f"{used[0].quantity.meta.get('min_hops', 20)} hops: not statistically reliable")
        if interstitial:
            out.interstitial = (est, used)
        for t in targets:
            out.uncertainty[t] = _entry(t, est, used, t_ref, notes)


def _conductivity(out: Mapped, points: list[Point], t_ref: float, concentration) -> None:
    """The defect-mediated conductivity when interstitial D and c are known, else the MD one."""
    if out.interstitial is not None and concentration is not None:
        (d, d_used), (c, c_used) = out.interstitial, concentration
        est, used = defect_conductivity(d, c, t_ref), d_used + c_used
    else:
        used, conductivity_notes = _preferred_conductivity(_pick(points, "li_conductivity", SEI_SIDE))
        if not used:
            _missing(out, N.KAPPA_LI, "li_conductivity")
            _missing(out, N.R_SEI, "li_conductivity")
            return
        est = at_reference(used, t_ref, _activation_energy(points, "li_conductivity", used))
        est.notes += conductivity_notes
        if out.interstitial is not None:
            est.notes.append("WARNING: the conductivity of every Li of the phase, not of its defects (no "
                             "interstitial concentration was supplied)")
    out.uncertainty[N.KAPPA_LI] = _entry(N.KAPPA_LI, est, used, t_ref)
    rho = Estimate(1.0 / est.mean, linear_std(1.0 / est.mean, est.log_std),
                   f"1/li_conductivity ({est.method})", est.log_std, list(est.notes), est.details)
    out.uncertainty[N.R_SEI] = _entry(N.R_SEI, rho, used, t_ref,
                                      ["std propagated as std(sigma)/sigma^2 (log-normal)"])


def _plain_quantities(out: Mapped, points: list[Point], t_ref: float, skip=()) -> None:
    for quantity, targets, regions in (
            ("li_concentration", (N.C_LI0,), SEI_SIDE),
            ("solvent_concentration", (N.C_SOL, N.C_EC0), ELECTROLYTE_SIDE),
            ("partial_molar_volume", (N.V_SEI,), SEI_SIDE),
            ("li_to_sei_ratio", (N.Z_SEI,), SEI_SIDE),
            ("sei_thickness", (N.L_SEI0,), SEI_SIDE + ("mixed", "metal"))):
        targets = tuple(t for t in targets if t not in skip)
        used = _pick(points, quantity, regions) if targets else []
        est = _plain(used, t_ref) if used else None
        extra = ["WARNING: every Li atom of the phase counted, not the equilibrium concentration of Li "
                 "interstitials that PyBaMM's interstitial model takes (run li_transport with defect: "
                 "interstitial)"] if quantity == "li_concentration" else []
        for t in targets:
            if est is not None and est.mean > 0:
                out.uncertainty[t] = _entry(t, est, used, t_ref, extra)
            elif est is not None:  # e.g. no SEI layer formed yet: PyBaMM needs a positive value
                _missing(out, t, quantity, f"the analysis measured {quantity} = {est.mean:g} (not positive); "
                                           "PyBaMM needs a positive value, so the base set's is kept")
            else:
                _missing(out, t, quantity)


def _li_diffusivity_kind(points: list[Point]) -> tuple[str, list[str]]:
    """Which diffusivity stands for PyBaMM's Li interstitial: the interstitial's own (defect runs)
    when supplied, else every Li's tracer diffusivity, marked as the wrong quantity."""
    if _pick(points, "li_interstitial_diffusivity", SEI_SIDE):
        return "li_interstitial_diffusivity", [
            "interstitial diffusivity D_d = D* N_Li / n_d from runs with one Li interstitial (md_runs.analysis.hops)"]
    if _pick(points, "li_diffusivity", SEI_SIDE):
        return "li_diffusivity", [
            "WARNING: this is the tracer self-diffusivity of every Li of the phase, not the diffusivity of a Li "
            "interstitial that PyBaMM's interstitial-diffusion model takes; run li_transport with defect: interstitial"]
    return "li_diffusivity", []


def _choose_option(out: Mapped, requested: str | None) -> str | None:
    if requested is None:
        return N.default_sei_option(out.parameters)
    if requested not in N.SEI_OPTION_NEEDS:
        raise UserError(f"unknown SEI option '{requested}' (choose from "
                        f"{', '.join(N.SEI_OPTION_NEEDS)})")
    for need in N.SEI_OPTION_NEEDS[requested]:
        if need not in out.uncertainty:
            raise UserError(f"SEI option '{requested}' needs '{need}', which no analysis provided "
                            f"(missing quantity {N.SOURCE_QUANTITY[need]})")
    return requested


def _growth_activation_energy(out: Mapped, points: list[Point], t_ref: float) -> None:
    """Ea of the diffusivity that limits growth under the chosen option -> SEI growth Ea."""
    li_kind, _ = _li_diffusivity_kind(points)
    if out.tst_activation_energy is not None and out.sei_option in (None, "interstitial-diffusion limited"):
        out.uncertainty[N.E_SEI] = _entry(N.E_SEI, out.tst_activation_energy, out.interstitial[1], t_ref)
        return
    of = {"interstitial-diffusion limited": li_kind}.get(out.sei_option or "", "solvent_diffusivity")
    if out.sei_option is None:
        of = li_kind if _activation_energy(points, li_kind) else of
    ea = _activation_energy(points, of, _pick(_ec_only(points), of, SEI_SIDE) or None)
    if ea is None:
        others = sorted({f"{p.meta.get('of', '?')} of {p.system or p.region}"
                         for p in points if p.name == "activation_energy"})
        why = (f"activation energies were supplied only for {', '.join(others)}, not for {of} of "
               "the exported SEI phase, which limits SEI growth" if others else "")
        out.not_provided[N.E_SEI] = why or f"no analysis supplied activation_energy of {of} " \
                                           f"({WHAT_GIVES['activation_energy']})"
        return
    est = Estimate(ea.mean, ea.std, f"Arrhenius activation energy of {of} ({ea.quantity.method or 'fit'})",
                   log_std(ea.mean, ea.std),
                   [], {"of": of, "temperatures_K": ea.meta.get("temperatures_K")})
    out.uncertainty[N.E_SEI] = _entry(N.E_SEI, est, [ea], t_ref)
