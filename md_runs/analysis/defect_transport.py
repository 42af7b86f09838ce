"""Transport runs with one Li point defect (``li_transport`` with ``defect:``): hops and the
defect's own diffusivity, the quantity PyBaMM's interstitial-diffusion SEI model wants.

From the Li tracer diffusivity D* of the run (kinisi, all Li; :mod:`.diffusion`) and the number
of defects n_d among N_Li atoms, the defect diffusivity is D_d = D* N_Li / n_d
(:mod:`.hops`); the hop count (Li between the perfect crystal's Li sites and its interstitial
holes) cross-checks it (D_hop = Γ λ² / 6 n_d) and says whether the run saw enough events: fewer
than 20 hops and the value is flagged (``enough_hops`` false). An interstitial run gives
``li_interstitial_diffusivity``; vacancy and Frenkel runs give ``li_vacancy_diffusivity`` /
``li_frenkel_diffusivity`` (reported, not exported).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.analysis.hops import MIN_HOPS, count_hops, hop_diffusivity
from md_runs.analysis.result import AnalysisResult, Quantity


def is_defect_run(run) -> bool:
    return bool(run.info.provenance.get("defect")) and run.info.formula_unit is not None


def lattice_sites(phase: str, repeat, cell: np.ndarray) -> np.ndarray:
    """Li sites and interstitial holes of the perfect supercell, Cartesian in ``cell``."""
    from md_runs.builders import sei_phase
    from md_runs.builders.defects import supercell_interstitial_sites

    perfect = sei_phase(phase, tuple(repeat))
    li = np.array(perfect.get_chemical_symbols()) == "Li"
    frac = np.vstack([perfect.get_scaled_positions()[li], supercell_interstitial_sites(sei_phase(phase), repeat)])
    return frac @ np.asarray(cell)


def defect_transport_result(run, diffusion: AnalysisResult, png: Path) -> AnalysisResult:
    prov = run.info.provenance
    kind, n_def = str(prov["defect"]), int(prov.get("n_defects", 1))
    phase, repeat = run.info.formula_unit, prov.get("repeat", [2, 2, 2])
    cell = np.mean([np.asarray(a.cell) for a in run.frames], axis=0)
    sites = lattice_sites(phase, repeat, cell)
    li = np.flatnonzero(np.array(run.frames[0].get_chemical_symbols()) == "Li")
    positions = np.array([a.positions[li] for a in run.frames])
    d_sites = np.linalg.norm(sites[:, None] - sites[None], axis=2) + np.eye(len(sites)) * 1e9
    capture = float(min(0.7, 0.4 * d_sites.min()))
    hops = count_hops(positions, cell, sites, capture=capture)
    duration_ps = float(run.times_ps[-1] - run.times_ps[0]) if len(run.times_ps) > 1 else 0.0
    t = run.info.temperature_K
    d_star = next(q for q in diffusion.quantities["li_diffusivity"] if q.meta.get("region") == "all")
    factor = len(li) / n_def
    meta = {"temperature_K": t, "region": "sei", "phase": phase, "defect": kind, "n_defects": n_def,
            "n_li": int(len(li)), "n_hops": hops.n_hops, "enough_hops": hops.enough, "min_hops": MIN_HOPS,
            "mean_hop_length_A": round(hops.mean_hop_length, 3), "duration_ps": duration_ps,
            "tracer_diffusivity": d_star.mean, "diffusive": d_star.meta.get("diffusive")}
    if duration_ps > 0 and hops.n_hops:
        meta["hop_diffusivity"] = hop_diffusivity(hops, duration_ps * 1e-12, n_def)
    if not hops.enough:
        meta["warning"] = (f"only {hops.n_hops} hops in {duration_ps:g} ps (< {MIN_HOPS}): the defect "
                           "diffusivity is not statistically reliable; run longer or hotter (below melting)")
    energetics = _energetics(run)
    tst = (energetics or {}).get("hop_tst")
    if tst and kind == "interstitial":  # the NEB/TST cross-check (and fallback) at this temperature
        from md_runs.analysis.defect_tst import hop_tst_from_dict

        meta["tst"] = {**tst, "diffusivity_at_T": hop_tst_from_dict(tst).diffusivity(t)}
    q = Quantity(d_star.mean * factor, None if d_star.std is None else d_star.std * factor, "m2/s",
                 f"D_d = D* N_Li / n_d (tracer MSD of all {len(li)} Li, kinisi; {n_def} {kind})", meta)
    quantities = {f"li_{kind}_diffusivity": q}
    if energetics and kind == "interstitial":
        quantities["li_interstitial_concentration"] = _concentration(energetics["formation"], t, phase)
    _plot(hops, run, png)
    return AnalysisResult(kind="defect_transport", quantities=quantities,
                          tables={"hops_per_atom": {"atom": li.tolist(), "hops": hops.hops_per_atom}},
                          provenance={"run": str(run.path), "capture_radius_A": capture, "n_sites": len(sites),
                                      "events": hops.as_dict()["events"][:200]},
                          plots=[png.name])


def _energetics(run) -> dict | None:
    """The run's ``defect_energetics.json`` (written by the protocol), or None."""
    from md_runs.analysis.defects import ENERGETICS_FILE, ENERGETICS_SCHEMA
    from mlip.utils import read_json_document

    path = run.path / ENERGETICS_FILE
    return read_json_document(path, "defect energetics", ENERGETICS_SCHEMA) if path.is_file() else None


def _concentration(formation: dict, t: float, phase: str) -> Quantity:
    """The equilibrium interstitial concentration at the run's temperature (inputs in meta, so the
    export re-evaluates it at its reference temperature)."""
    from md_runs.analysis.defects import K_B_EV, equilibrium_concentration

    e_f, e_std, n = formation["formation_energy_ev"], formation.get("formation_energy_std_ev"), formation["site_density_m3"]
    c = equilibrium_concentration(e_f, t, n)
    std = None if e_std is None else c * float(np.sqrt(np.expm1((e_std / (K_B_EV * t)) ** 2)))
    return Quantity(c, std, "mol/m3", "n_sites/V exp(-E_f/k_B T)/N_A (relaxed supercells, same model)",
                    {"temperature_K": t, "region": "sei", "phase": phase, "formation_energy_eV": e_f,
                     "formation_energy_std_eV": e_std, "site_density_m3": n, "mu_li_eV": formation.get("mu_li_ev"),
                     "approximations": formation.get("approximations")})


def _plot(hops, run, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.asarray(run.times_ps)
    frames = [e[0] for e in hops.events]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.step(times[frames] if frames else [], np.arange(1, len(frames) + 1), where="post")
    ax.axhline(MIN_HOPS, color="grey", ls="--", lw=0.8, label=f"{MIN_HOPS} hops (reliable D)")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("Li hops (cumulative)")
    ax.set_title(f"{run.info.name}: {hops.n_hops} hops", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


__all__ = ["defect_transport_result", "is_defect_run", "lattice_sites"]
