"""The export of Li-interstitial runs: the right PyBaMM names from the right quantities, the
NEB/TST fallback when MD saw too few hops, replicas pooled so the error bar covers another seed,
and plausibility warnings that fire on the values the v1 quickstart exported."""

from __future__ import annotations

import math

import pytest

from md_runs.analysis.defect_tst import HopTST
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.export import build_export
from md_runs.export import names as N
from md_runs.export.plausibility import judge, judge_all

R, T_REF = 8.314462618, 298.15
PROV = {"system": "LiF", "model": "li-ec-gfn1", "model_sha256": "ab" * 32}

K_B = 8.617333262e-5
E_F, SITES = 0.5, 1.2e29       # eV; interstitial sites per m3
D_REF, EA = 3e-16, 25e3        # m2/s at T_REF; J/mol
TST = HopTST(barrier_eV=0.22, attempt_frequency_Hz=8e12, hop_length_A=2.05, coordination=6,
             frequencies_min_THz=[9.0, 9.0, 9.0], frequencies_saddle_THz=[-3.0, 9.0, 9.0], neb_converged=True,
             a0_A=4.1).as_dict()


def _d(t: float) -> float:
    return D_REF * math.exp(-EA / R * (1 / t - 1 / T_REF))


def _defect_results(folder, temps=(500.0, 600.0), hops=40, replicas=(1.0,), rel=0.1):
    """Files shaped as `seimlip analyze` writes them for LiF runs with one interstitial."""
    points = []
    for t in temps:
        for r, factor in enumerate(replicas, 1):
            name = f"LiF_interstitial_T{t:g}_r{r}"
            meta = {"temperature_K": t, "region": "sei", "phase": "LiF", "defect": "interstitial", "n_defects": 1,
                    "n_hops": hops, "enough_hops": hops >= 20, "min_hops": 20, "tst": TST}
            d = Quantity(_d(t) * factor, rel * _d(t) * factor, "m2/s", "D_d = D* N_Li / n_d", meta)
            c = Quantity(SITES * math.exp(-E_F / (K_B * t)) / 6.02214076e23, None, "mol/m3", "n_sites/V exp(-E_f/kT)",
                         {"temperature_K": t, "region": "sei", "phase": "LiF", "formation_energy_eV": E_F,
                          "formation_energy_std_eV": 0.05, "site_density_m3": SITES, "approximations": "dilute"})
            points.append(d)
            AnalysisResult("defect_transport", {"li_interstitial_diffusivity": d, "li_interstitial_concentration": c},
                           provenance={**PROV, "run": f"runs/{name}", "temperature_K": t}
                           ).save(folder / name / "defect_transport.json")
    ea = Quantity(EA, 1.5e3, "J/mol", "weighted least squares of ln D vs 1/T",
                  {"of": "li_interstitial_diffusivity", "system": "LiF", "region": "sei", "phase": "LiF",
                   "temperatures_K": list(temps)})
    AnalysisResult("arrhenius", {"activation_energy": ea, "li_interstitial_diffusivity": points},
                   provenance={"system": "LiF", "temperatures_K": list(temps)}
                   ).save(folder / "arrhenius_LiF_li_interstitial_diffusivity.json")
    return folder


def test_interstitial_runs_map_to_the_interstitial_parameters(tmp_path):
    doc = build_export([_defect_results(tmp_path)], sei_phase="LiF")
    u = doc["uncertainty"]
    assert u[N.D_LI]["provenance"]["quantity"] == "li_interstitial_diffusivity"
    assert u[N.D_LI]["mean"] == pytest.approx(D_REF, rel=1e-6)
    assert any("cross-check: NEB barrier 0.220 eV vs the MD Arrhenius Ea 0.259 eV" in n
               for n in u[N.D_LI]["provenance"]["notes"])
    c_ref = SITES * math.exp(-E_F / (K_B * T_REF)) / 6.02214076e23  # at T_ref, not at the MD temperatures
    assert u[N.C_LI0]["mean"] == pytest.approx(c_ref, rel=1e-9)
    assert u[N.C_LI0]["log_std"] == pytest.approx(0.05 / (K_B * T_REF))
    sigma = c_ref * 96485.33212 ** 2 * D_REF / (R * T_REF)  # Nernst-Einstein of the equilibrium interstitials
    assert u[N.KAPPA_LI]["mean"] == pytest.approx(sigma, rel=1e-6)
    assert u[N.R_SEI]["mean"] == pytest.approx(1 / sigma, rel=1e-6)
    assert u[N.E_SEI]["mean"] == EA and doc["sei_option"] == "interstitial-diffusion limited"
    assert set(doc["plausibility"]) == set(doc["parameters"]) - {N.T_REF}


def test_too_few_hops_exports_the_neb_tst_value_marked(tmp_path):
    doc = build_export([_defect_results(tmp_path, hops=3)], sei_phase="LiF")
    d = doc["uncertainty"][N.D_LI]
    gamma = 8e12 * math.exp(-0.22 / (K_B * T_REF))
    assert d["mean"] == pytest.approx(gamma * (2.05e-10) ** 2, rel=1e-9)  # D = Z Gamma l^2 / 6, Z = 6
    assert "harmonic TST" in d["provenance"]["method"]
    assert any(n.startswith("MD saw too few hops (3 at 500 K") for n in d["provenance"]["notes"])
    ea = doc["uncertainty"][N.E_SEI]
    assert ea["mean"] == pytest.approx(0.22 * 96485.33212) and "NEB" in ea["provenance"]["method"]


def test_replicas_are_pooled_and_the_error_bar_covers_their_spread(tmp_path):
    """Two seeds a factor 3 apart at each temperature: the pooled std in ln space is their spread."""
    one = build_export([_defect_results(tmp_path / "a", replicas=(1.0,))], sei_phase="LiF")
    two = build_export([_defect_results(tmp_path / "b", replicas=(1.0, 3.0))], sei_phase="LiF")
    d1, d2 = one["uncertainty"][N.D_LI], two["uncertainty"][N.D_LI]
    assert d2["mean"] == pytest.approx(D_REF * math.sqrt(3.0), rel=1e-6)  # geometric mean of the seeds
    spread = math.log(3.0) / math.sqrt(2.0)  # sample std of ln(1), ln(3)
    assert d2["log_std"] > d1["log_std"] and d2["log_std"] >= spread / math.sqrt(2)
    assert abs(math.log(3.0 * D_REF / d2["mean"])) <= d2["log_std"] * 2  # either seed inside 2 sigma
    seeds = d2["provenance"]["seed_spread"]
    assert set(seeds) == {"500", "600"} and len(seeds["500"]["values"]) == 2


@pytest.mark.parametrize("name, value", [
    (N.D_LI, 4.7e-9), (N.C_LI0, 5.2e4), (N.E_SEI, 6.1e3), (N.R_SEI, 8e-4)])
def test_plausibility_warns_on_the_values_the_v1_quickstart_exported(name, value):
    import pybamm

    base = pybamm.ParameterValues("OKane2022")
    verdict = judge(name, value, float(base[name]))
    assert verdict["plausible"] is False and verdict["warning"].startswith(f"WARNING: {name} = ")


def test_the_base_set_itself_is_plausible():
    import pybamm

    base = pybamm.ParameterValues("OKane2022")
    names = [N.D_LI, N.C_LI0, N.E_SEI, N.R_SEI, N.V_SEI, N.D_SOL, N.D_EC, N.C_SOL, N.C_EC0, N.L_SEI0]
    judged = judge_all({n: float(base[n]) for n in names} | {N.KAPPA_LI: 1 / float(base[N.R_SEI])}, base)
    assert all(v["plausible"] for v in judged.values()), {k: v.get("warning") for k, v in judged.items()}
    assert judged[N.KAPPA_LI]["base_value"] == pytest.approx(5e-6)  # OKane2022 has only the resistivity


def test_tst_rate_and_diffusivity():
    hop = HopTST(**TST)
    assert hop.rate(600.0) == pytest.approx(8e12 * math.exp(-0.22 / (K_B * 600.0)))
    assert hop.diffusivity(600.0) == pytest.approx(hop.rate(600.0) * (2.05e-10) ** 2)


@pytest.mark.slow  # two PyBaMM solves that fail and three that run: a minute or two on a shared machine
def test_check_reverts_implausible_parameters_when_pybamm_cannot_run(tmp_path):
    """The equilibrium interstitials of this toy give an SEI resistivity of ~1e12 Ohm m: no current
    passes, so the check reruns with the flagged parameters at OKane2022's values and says so."""
    from md_runs.export import check_pybamm, export_pybamm

    path = export_pybamm([_defect_results(tmp_path / "a")], tmp_path / "sei.json", sei_phase="LiF")
    report = check_pybamm(path, tmp_path / "check", cycles=1)
    assert N.R_SEI in report["reverted_to_base"] and report["infeasible_at_export"]
    assert report["warnings"][0].startswith("PyBaMM cannot run at the exported values")
    assert N.R_SEI not in report["uncertain_parameters"]
    assert (tmp_path / "check" / "capacity_fade.png").is_file()
