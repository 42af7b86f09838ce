"""md_runs.export and `seimlip export pybamm`: MD SEI properties -> PyBaMM, with uncertainty, run in PyBaMM."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pybamm
import pytest
from ase import Atoms
from ase.io import write

from active_learning.cli import main
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.export import build_export, check_pybamm, export_pybamm, load_parameter_values
from md_runs.export import names as N
from md_runs.trajectory import THERMO_COLUMNS, RunInfo, write_run_info

from helpers import EA, R, T_REF, d_at, lif_results

def sei_growth(export_path, cycles=1) -> float:
    """SEI thickness growth (m) in a short SPM run with the exported set and its SEI option."""
    doc = json.loads(export_path.read_text())
    model = pybamm.lithium_ion.SPM({"SEI": doc["sei_option"]})
    experiment = pybamm.Experiment([("Discharge at 1C until 2.5 V", "Charge at 1C until 4.2 V")] * cycles)
    sol = pybamm.Simulation(model, parameter_values=load_parameter_values(export_path),
                            experiment=experiment).solve()
    thickness = sol["X-averaged negative SEI thickness [m]"].entries
    return float(thickness[-1] - thickness[0])


def test_names_are_pybamm_parameters():
    """Every exported or not-provided name is a parameter of the installed PyBaMM (set or SEI submodel)."""
    known = set(pybamm.ParameterValues("OKane2022").keys())
    for option in ("interstitial-diffusion limited", "VonKolzenberg2020", "tunnelling limited",
                   "electron-migration limited", "ec reaction limited (asymmetric)"):
        known |= set(pybamm.lithium_ion.SPM({"SEI": option}).get_parameter_info())
    for name in [*N.EXPORTED_UNITS, *N.NOT_FROM_MD, N.T_REF]:
        assert name in known, name
    assert N.KAPPA_LI not in pybamm.ParameterValues("OKane2022").keys()  # so loading must add it


def test_arrhenius_extrapolation_and_propagation(tmp_path):
    """Exact Arrhenius data come back at T_ref; the log-space std follows the linearised formula."""
    doc = build_export([lif_results(tmp_path / "a")])
    entry = doc["uncertainty"][N.D_LI]
    assert entry["mean"] == pytest.approx(1e-20, rel=1e-9)
    x = [1 / t for t in (500.0, 600.0, 700.0)]
    x_c = sum(x) / 3  # equal relative errors -> equal weights
    s2 = 0.1**2 / 3 + ((1 / T_REF - x_c) * 2e3 / R) ** 2
    assert entry["log_std"] == pytest.approx(math.sqrt(s2), rel=1e-6)
    assert entry["std"] == pytest.approx(1e-20 * math.sqrt(math.expm1(s2)), rel=1e-6)
    prov = entry["provenance"]
    assert prov["temperatures_K"] == [500.0, 600.0, 700.0] and prov["phase"] == "LiF"
    assert {"li-ec-gfn1"} == {p["model"] for p in prov["source_provenance"] if "model" in p}
    assert any(p.get("run") == "runs/LiF_T700" for p in prov["source_provenance"])
    assert doc["parameters"][N.E_SEI] == EA and doc["uncertainty"][N.E_SEI]["std"] == 2e3
    # conductivity: Einstein-Helfand too noisy -> Nernst-Einstein, closest temperature, noted
    kappa = doc["uncertainty"][N.KAPPA_LI]
    assert kappa["mean"] == 2e-6 and any("500 K" in n for n in kappa["provenance"]["notes"])
    assert any("Einstein-Helfand" in n for n in kappa["provenance"]["notes"])
    rho = doc["uncertainty"][N.R_SEI]
    assert rho["mean"] == pytest.approx(5e5) and rho["std"] == pytest.approx(rho["mean"] * 0.1, rel=0.01)
    assert doc["sei_option"] == "interstitial-diffusion limited"
    for name in N.NOT_FROM_MD:
        assert doc["not_provided"][name]
    for name in (N.D_SOL, N.D_EC, N.C_SOL, N.L_SEI0):
        assert name in doc["not_provided"] and name not in doc["parameters"]

    # Without the Arrhenius fit: the closest temperature (500 K), with a note saying so.
    doc = build_export([lif_results(tmp_path / "b", arrhenius=False)])
    entry = doc["uncertainty"][N.D_LI]
    assert entry["mean"] == pytest.approx(d_at(500.0, 1e-20))
    assert "closest MD temperature 500 K" in " ".join(entry["provenance"]["notes"])
    assert "activation_energy" in doc["not_provided"][N.E_SEI]


def test_exported_diffusivity_drives_pybamm_sei_growth(tmp_path):
    """Export -> ParameterValues -> SPM with the SEI option: the SEI grows, monotonically in D."""
    growth = []
    for d_ref in (1e-20, 1e-19, 1e-18):
        out = export_pybamm([lif_results(tmp_path / f"in_{d_ref:g}", d_ref)], tmp_path / f"sei_{d_ref:g}.json")
        values = load_parameter_values(out)
        assert values[N.D_LI] == pytest.approx(d_ref, rel=1e-9) and values[N.C_LI0] == 15.0
        assert values[N.KAPPA_LI] == 2e-6 and values["SEI electron conductivity [S.m-1]"] > 0  # base kept
        growth.append(sei_growth(out))
    assert 0 < growth[0] < growth[1] < growth[2]
    assert growth[2] > 5 * growth[0]


def _write_run(folder, frames, temperature):
    folder.mkdir(parents=True)
    write_run_info(folder, RunInfo(protocol="li_transport", name=folder.name, system="LiF", engine="ase",
                                   ensemble="nvt", temperature_K=temperature, timestep_fs=1.0,
                                   frame_interval_ps=0.1, trajectory="trajectory.extxyz", species=["F", "Li"],
                                   model="synthetic", formula_unit="LiF"))
    write(folder / "trajectory.extxyz", frames)
    (folder / "equilibration").mkdir()
    with (folder / "equilibration" / "thermo.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(THERMO_COLUMNS)
        w.writerows([[i * 0.1, temperature, 0, 0, 0, 1.0, 15.0**3 * (1 + 1e-3 * np.sin(i))] for i in range(40)])


def test_export_from_seimlip_analyze_of_random_walks(tmp_path):
    """Random-walk 'LiF' runs at 600/700 K -> md_runs.analysis.analyze -> export: D at 298 K within its error."""
    from md_runs.analysis import AnalysisConfig, analyze

    ea, rng = 150e3, np.random.default_rng(0)
    f_sites = rng.uniform(0, 15.0, (32, 3))
    for k, t in enumerate((600.0, 700.0)):
        d = 0.5 * math.exp(-ea / R * (1 / t - 1 / 700.0))  # Å2/ps
        steps = rng.normal(0.0, math.sqrt(2 * d * 0.1), (119, 32, 3))
        pos = np.concatenate([rng.uniform(0, 15.0, (1, 32, 3)), steps]).cumsum(0)
        frames = [Atoms("Li32F32", positions=np.vstack([p % 15.0, f_sites]), cell=[15.0] * 3, pbc=True)
                  for p in pos]
        _write_run(tmp_path / "runs" / f"LiF_T{t:g}", frames, t)
    analyze(tmp_path / "runs", tmp_path / "out", AnalysisConfig(mcmc_samples=200))
    out = export_pybamm([tmp_path / "out" / "analysis"], tmp_path / "sei.json", bpx=tmp_path / "sei.bpx.json")
    doc = json.loads(out.read_text())
    entry = doc["uncertainty"][N.D_LI]
    truth = 0.5e-8 * math.exp(-ea / R * (1 / T_REF - 1 / 700.0))
    assert abs(math.log(entry["mean"] / truth)) < 3 * entry["log_std"]
    assert doc["sei_phase"] == "LiF" and doc["provenance"]["kinds"] == ["arrhenius", "crystallinity", "density", "diffusion"]
    assert doc["parameters"][N.C_LI0] == pytest.approx(32 / (15.0**3 * 1e-30) / 6.02214076e23, rel=1e-2)
    assert doc["parameters"][N.V_SEI] == pytest.approx(15.0**3 * 1e-30 * 6.02214076e23 / 32, rel=1e-2)
    assert set(entry["provenance"]["temperatures_K"]) == {600.0, 700.0}
    assert any(p.get("model") == "synthetic" for p in entry["provenance"]["source_provenance"])
    # BPX: validated by the bpx package, loaded by PyBaMM with the SEI values under PyBaMM's names.
    import bpx

    parsed = bpx.parse_bpx_file(str(tmp_path / "sei.bpx.json"))
    assert parsed.parameterisation.user_defined is not None
    with pytest.warns(UserWarning):
        values = pybamm.ParameterValues.create_from_bpx(tmp_path / "sei.bpx.json")
    for name, mean in doc["parameters"].items():
        assert values[name] == pytest.approx(mean)
    assert values["Nominal cell capacity [A.h]"] == 5.0


def test_solvent_diffusivity_only(tmp_path):
    """EC diffusivity inside the SEI -> solvent-diffusion limited; a bulk-electrolyte one is refused with a reason."""
    AnalysisResult("diffusion", {"solvent_diffusivity": [
        Quantity(2e-21, 5e-22, "m2/s", "centre-of-mass MSD", {"species": "EC", "region": "sei", "temperature_K": 298.15}),
        Quantity(9e-10, 1e-10, "m2/s", "centre-of-mass MSD", {"species": "DMC", "region": "sei", "temperature_K": 298.15})],
    }, provenance={"system": "li100|EC-DMC"}).save(tmp_path / "a" / "diffusion.json")
    doc = build_export([tmp_path / "a"])
    assert doc["sei_option"] == "solvent-diffusion limited"
    assert doc["parameters"][N.D_SOL] == doc["parameters"][N.D_EC] == 2e-21
    assert N.D_LI in doc["not_provided"]
    AnalysisResult("diffusion", {"solvent_diffusivity": [Quantity(
        3e-10, 1e-11, "m2/s", "com", {"species": "EC", "temperature_K": 300.0})]},
        provenance={"system": "EC-DMC", "liquid": True}).save(tmp_path / "b" / "diffusion.json")
    AnalysisResult("density", {"partial_molar_volume": Quantity(1e-5, 1e-7, "m3/mol", "", {"formula_unit": "LiF"})},
                   provenance={"system": "LiF"}).save(tmp_path / "b" / "density.json")
    doc = build_export([tmp_path / "b"])
    assert doc["sei_option"] is None and "bulk-electrolyte" in doc["not_provided"][N.D_SOL]


def test_cli_export_bpx_and_check(tmp_path, capsys):
    """`seimlip export pybamm DIR -o sei.json --bpx --check --config`: PyBaMM runs at mean and +-1 sigma."""
    lif_results(tmp_path / "analysis", 1e-19)
    cfg = tmp_path / "export.yaml"
    cfg.write_text("check:\n  cycles: 2\n  cycle: ['Discharge at 1C until 2.5 V', 'Charge at 1C until 4.2 V']\n")
    out = tmp_path / "out" / "sei.json"
    main(["export", "pybamm", str(tmp_path / "analysis"), "-o", str(out), "--bpx", str(tmp_path / "out" / "sei.bpx.json"),
          "--check", "--config", str(cfg)])
    text = capsys.readouterr().out
    assert "not provided" in text and "check:" in text
    assert (tmp_path / "out" / "sei.config.yaml").is_file() and (tmp_path / "out" / "sei.bpx.json").is_file()
    folder = tmp_path / "out" / "sei_check"
    report = json.loads((folder / "check.json").read_text())
    for png in ("capacity_fade.png", "sei_thickness.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG"
    assert report["sei_option"] == "interstitial-diffusion limited" and report["cycles"] == 2
    # z (std 0) is not perturbed, nor Ea (the check is isothermal at the reference temperature)
    assert set(report["uncertain_parameters"]) == {N.D_LI, N.C_LI0, N.V_SEI, N.R_SEI}
    assert len(report["runs"]) == 1 + 2 * len(report["uncertain_parameters"])
    band = report["bands"]["sei_thickness_m_vs_time_h"]
    assert band["mean"][-1] > band["mean"][0]
    assert all(lo <= m + 1e-18 and m <= hi + 1e-18 for lo, m, hi in zip(band["lower"], band["mean"], band["upper"]))
    assert band["upper"][-1] > band["lower"][-1]
    plus = next(r for r in report["runs"] if r["label"] == f"{N.D_LI} +1 sigma")
    minus = next(r for r in report["runs"] if r["label"] == f"{N.D_LI} -1 sigma")
    assert plus["sei_thickness_m"][-1] > report["runs"][0]["sei_thickness_m"][-1] > minus["sei_thickness_m"][-1]
    cap = report["bands"]["capacity_Ah_vs_cycle"]
    assert cap["x"] == [1.0, 2.0] and cap["mean"][1] < cap["mean"][0]


def _run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "o" / "sei.json"
    run = lambda *a: _run_cli(["export", "pybamm", *map(str, a), "-o", str(out)], capsys)  # noqa: E731
    assert "analysis file not found" in run(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text('{"hello": 1}')
    assert "not a seimlip analysis result" in run(tmp_path / "x.json")
    (tmp_path / "empty").mkdir()
    assert "no analysis result JSON" in run(tmp_path / "empty")
    AnalysisResult("density", {"density": Quantity(2640.0, 5.0, "kg/m3")}).save(tmp_path / "d" / "density.json")
    err = run(tmp_path / "d")
    assert "no quantity usable" in err and "density" in err
    lif_results(tmp_path / "lif")
    err = _run_cli(["export", "pybamm", str(tmp_path / "lif"), "-o", str(out), "--sei-option",
                    "solvent-diffusion limited"], capsys)
    assert "solvent_diffusivity" in err
    AnalysisResult("diffusion", {"li_diffusivity": [Quantity(1e-12, 1e-13, "m2/s", "", {"region": "all", "temperature_K": 600.0})]},
                   provenance={"system": "Li2O"}).save(tmp_path / "lif" / "li2o.json")
    assert "several SEI phases (Li2O, LiF)" in run(tmp_path / "lif")
    AnalysisResult("diffusion", {"li_diffusivity": [Quantity(1e-12, 1e-13, "cm/s", "", {"temperature_K": 600.0})]}
                   ).save(tmp_path / "u" / "bad_unit.json")
    assert "unit 'cm/s'" in run(tmp_path / "u")
    assert "unknown PyBaMM parameter set" in _run_cli(
        ["export", "pybamm", str(tmp_path / "lif" / "arrhenius_LiF.json"), "-o", str(out), "--base", "Nope2099"], capsys)
    AnalysisResult("density", {"partial_molar_volume": Quantity(1e-5, 1e-7, "m3/mol", "", {"formula_unit": "LiF"})},
                   provenance={"system": "LiF"}).save(tmp_path / "v" / "density.json")
    assert "no SEI diffusivity" in run(tmp_path / "v", "--check")
    (tmp_path / "bad.yaml").write_text("check:\n  cycle: ['Dance at 1C for 1 hour']\n")
    assert "invalid experiment step" in run(tmp_path / "lif" / "arrhenius_LiF.json", "--check", "--config",
                                            tmp_path / "bad.yaml")
    assert "sei_option" in run(tmp_path / "lif" / "arrhenius_LiF.json", "--sei-option", "magic")
    assert not out.parent.exists()


def test_uncertainty_plans_and_reference_temperature(tmp_path):
    """+-1 sigma runs sit at x*exp(+-s); samples are seeded log-normal draws; T_ref from config is exported."""
    from md_runs.export.check import plan_runs

    doc = build_export([lif_results(tmp_path / "a")], reference_temperature_K=318.15)
    assert doc["parameters"][N.T_REF] == 318.15
    assert doc["parameters"][N.D_LI] == pytest.approx(d_at(318.15, 1e-20), rel=1e-9)
    assert load_parameter_values(_save(tmp_path / "e.json", doc))[N.T_REF] == 318.15
    doc = build_export([lif_results(tmp_path / "b")])
    option = doc["sei_option"]
    runs = dict(plan_runs(doc, option, 0, 0))
    s = doc["uncertainty"][N.D_LI]["log_std"]
    assert runs[f"{N.D_LI} +1 sigma"][N.D_LI] == pytest.approx(1e-20 * math.exp(s))
    assert runs[f"{N.D_LI} -1 sigma"][N.D_LI] == pytest.approx(1e-20 * math.exp(-s))
    assert runs["mean"] == {}
    sampled = plan_runs(doc, option, 400, 7)
    assert sampled == plan_runs(doc, option, 400, 7) and len(sampled) == 401
    logs = np.log([o[N.D_LI] for _, o in sampled[1:]])
    assert abs(logs.mean() - math.log(1e-20)) < 4 * s / 20 and logs.std() == pytest.approx(s, rel=0.15)


def _save(path, doc):
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.slow
def test_check_dfn_with_samples_and_unphysical_values(tmp_path):
    """DFN + sampled propagation runs; an absurd diffusivity runs unclipped and is flagged in check.json."""
    out = export_pybamm([lif_results(tmp_path / "a", 1e-19)], tmp_path / "sei.json")
    report = check_pybamm(out, tmp_path / "check", model="DFN", cycles=1, samples=3, seed=1)
    assert report["model"] == "DFN" and len(report["runs"]) == 4 and not report["warnings"]
    band = report["bands"]["sei_thickness_m_vs_time_h"]
    assert band["mean"][-1] > band["mean"][0] and band["upper"][-1] >= band["lower"][-1]
    out = export_pybamm([lif_results(tmp_path / "b", 1e-8)], tmp_path / "absurd.json")
    report = check_pybamm(out, tmp_path / "check2", cycles=1)
    assert report["runs"][0]["overrides"] == {} and any("nothing was clipped" in w for w in report["warnings"])


def test_zero_sei_thickness_is_not_exported(tmp_path):
    """A formation run too short to grow an SEI measures thickness 0: PyBaMM divides by the initial
    thickness, so the exporter keeps the base set's value and says why, and the check still runs."""
    folder = lif_results(tmp_path / "a", temps=(500.0, 600.0))
    AnalysisResult("profiles", {"sei_thickness": Quantity(0.0, None, "m", "equivalent thickness", {"time_ps": 0.2})},
                   provenance={"system": "li100|EC"}).save(folder / "li100_EC_T400" / "profiles.json")
    doc = build_export([folder])
    assert N.L_SEI0 not in doc["parameters"]
    assert "not positive" in doc["not_provided"][N.L_SEI0]
    export = export_pybamm([folder], tmp_path / "sei.json")
    assert sei_growth(export) > 0


def test_values_from_non_diffusive_runs_carry_a_warning(tmp_path):
    folder = lif_results(tmp_path / "a", temps=(500.0, 600.0))
    path = folder / "LiF_T500" / "diffusion.json"
    doc = json.loads(path.read_text())
    doc["quantities"]["li_diffusivity"][0]["meta"]["diffusive"] = False
    path.write_text(json.dumps(doc))
    notes = build_export([folder])["uncertainty"][N.D_LI]["provenance"]["notes"]
    assert any("not yet diffusive" in n and "500.0" in n for n in notes)
