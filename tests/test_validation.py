"""Physical validation (md_runs.validation, `seimlip validate`) on cheap potentials (EMT, Lennard-Jones):
EOS fits with known answers, crystallinity of a crystal vs a melt, an NEB barrier known by symmetry,
a broken model failing the right rows, and the export gate refusing a melted crystal's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, fcc100
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from active_learning.cli import main
from md_runs.validation.eos import EV_A3_TO_GPA, eos_scan


# --- equations of state ----------------------------------------------------------------------------
def _independent_v0_b0(calc_factory, template: Atoms, guess_ratio: float = 1.0) -> tuple[float, float]:
    """V0 and B0 = V d2E/dV2 by a bounded scalar minimisation and a central finite difference."""
    from scipy.optimize import minimize_scalar

    calc = calc_factory()
    v_t = template.get_volume()

    def energy(v: float) -> float:
        a = template.copy()
        a.set_cell(a.cell * (v / v_t) ** (1 / 3), scale_atoms=True)
        a.calc = calc
        return a.get_potential_energy()

    res = minimize_scalar(energy, bounds=(0.5 * v_t, 2.5 * v_t), method="bounded", options={"xatol": 1e-6 * v_t})
    v0, h = res.x, 2e-3 * res.x
    d2 = (energy(v0 + h) - 2 * energy(v0) + energy(v0 - h)) / h**2
    return v0, v0 * d2 * EV_A3_TO_GPA


def test_eos_recovers_emt_copper_from_far_away():
    start = bulk("Cu", "fcc", a=3.61 * 1.25, cubic=True)  # ~2x the volume of the EMT minimum
    res = eos_scan("Cu", EMT, template=start, formula_units=4, search_volume_ratio=(0.55, 2.2))
    v0, b0 = _independent_v0_b0(EMT, start)
    assert res.bracketed
    assert res.v0_A3_per_fu == pytest.approx(v0 / 4, rel=2e-3)
    assert res.b0_GPa == pytest.approx(b0, rel=0.03)
    assert res.a0_A == pytest.approx((v0) ** (1 / 3), rel=1e-3)
    assert 3.55 < res.a0_A < 3.65 and 120 < res.b0_GPa < 150  # EMT copper: a0 3.59 Å, B0 ~134 GPa


def test_eos_recovers_lennard_jones_fcc_analytically():
    sigma, eps = 2.5, 0.05
    # static fcc lattice sums: E/atom = 2 eps (A12 (s/r)^12 - A6 (s/r)^6), r = nearest-neighbour distance
    a12, a6 = 12.13188, 14.45392
    r0 = sigma * (2 * a12 / a6) ** (1 / 6)
    v0 = r0**3 / np.sqrt(2)  # per atom
    r = lambda v: (np.sqrt(2) * v) ** (1 / 3)  # noqa: E731
    e = lambda v: 2 * eps * (a12 * (sigma / r(v)) ** 12 - a6 * (sigma / r(v)) ** 6)  # noqa: E731
    h = 1e-4 * v0
    b0 = v0 * (e(v0 + h) - 2 * e(v0) + e(v0 - h)) / h**2 * EV_A3_TO_GPA
    start = bulk("Ar", "fcc", a=r0 * np.sqrt(2) * 0.85, cubic=True).repeat((2, 2, 2))  # minimum far above

    def lj():
        return LennardJones(sigma=sigma, epsilon=eps, rc=6 * sigma, smooth=True, ro=5.5 * sigma)

    res = eos_scan("Ar", lj, template=start, formula_units=len(start), search_volume_ratio=(0.55, 2.2))
    assert res.v0_A3_per_fu == pytest.approx(v0, rel=5e-3)
    assert res.b0_GPa == pytest.approx(b0, rel=0.05)


def test_eos_extends_the_scan_to_a_minimum_outside_the_search_window():
    start = bulk("Cu", "fcc", a=3.61 * 0.7, cubic=True)  # the minimum is at V/V_start ~ 2.9
    res = eos_scan("Cu", EMT, template=start, formula_units=4, search_volume_ratio=(0.8, 1.5), search_points=6)
    assert res.bracketed and res.a0_A == pytest.approx(3.59, abs=0.03)


# --- crystallinity ---------------------------------------------------------------------------------
def _langevin(atoms: Atoms, temperature: float, steps: int, every: int, seed: int = 0) -> list[Atoms]:
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    atoms = atoms.copy()
    atoms.calc = EMT()
    thermalize_momenta(atoms, temperature, rng=np.random.default_rng(seed))
    dyn = Langevin(atoms, 4 * units.fs, temperature_K=temperature, friction=0.05, fixcm=False,
                   rng=np.random.default_rng(seed + 1))
    frames = []
    for _ in range(steps // every):
        dyn.run(every)
        frames.append(atoms.copy())
    return frames


def test_crystallinity_separates_a_crystal_from_a_melt_and_a_random_cell():
    from md_runs.analysis.crystallinity import crystallinity

    ideal = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    crystal = crystallinity(_langevin(ideal, 300, 200, 10), ideal)
    assert not crystal.melted and crystal.site_fraction > 0.99 and crystal.lindemann < 0.08
    melt = crystallinity(_langevin(ideal, 8000, 200, 10), ideal)  # far above EMT copper's melting point
    assert melt.melted and melt.site_fraction < 0.5
    rnd = ideal.copy()
    rnd.positions = np.random.default_rng(0).random((len(rnd), 3)) @ rnd.cell.array
    random = crystallinity([rnd, rnd, rnd], ideal)
    assert random.melted and random.site_fraction < 0.2
    # a uniform NPT expansion or shear is not disorder (fractional coordinates of each frame's cell)
    strained = ideal.copy()
    strained.set_cell(ideal.cell.array @ np.array([[1.3, 0.1, 0], [0, 1.3, 0], [0, 0, 1.25]]), scale_atoms=True)
    assert not crystallinity([ideal, strained, strained], ideal).melted


def test_crystallinity_uses_the_anion_lattice_of_an_ionic_crystal():
    from md_runs.analysis.crystallinity import crystallinity
    from md_runs.builders import sei_phase

    ideal = sei_phase("LiF", (2, 2, 2))
    hopped = ideal.copy()
    li = [i for i, s in enumerate(hopped.get_chemical_symbols()) if s == "Li"]
    rng = np.random.default_rng(1)
    hopped.positions[li] += rng.normal(0, 1.5, (len(li), 3))  # a molten Li sublattice (superionic)
    c = crystallinity([ideal, hopped, hopped, hopped], ideal)
    assert c.framework == ["F"] and not c.melted and c.li_site_fraction < 0.6


def test_crystallinity_survives_a_rebased_and_rotated_cell():
    """LAMMPS writes triclinic boxes rotated and re-based (a tilt past half a box length is flipped):
    the same crystal in another basis is still on its sites."""
    from scipy.spatial.transform import Rotation

    from md_runs.analysis.crystallinity import crystallinity
    from md_runs.builders import sei_phase

    ideal = sei_phase("Li2CO3", (1, 2, 2))
    frame = ideal.copy()
    cell = np.array(frame.cell)
    rebased = cell.copy()
    rebased[2] += cell[0]  # c' = c + a: the same lattice
    rot = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    frame.set_cell(rebased @ rot.T, scale_atoms=False)
    frame.positions = ideal.positions @ rot.T
    frame.rattle(0.05, seed=1)
    assert crystallinity([frame, frame, frame], ideal).site_fraction == 1.0
    flipped = ideal.copy()
    flipped.set_cell(rebased, scale_atoms=False)  # the flip happens during the run
    assert crystallinity([ideal, ideal, flipped, flipped], ideal).site_fraction == 1.0


# --- NEB -------------------------------------------------------------------------------------------
def test_neb_reproduces_the_bridge_barrier_of_an_adatom_hop_on_al100():
    """Au on Al(100), hollow -> hollow: by symmetry the saddle is the bridge site, so the NEB barrier
    must equal the energy of the adatom relaxed with x, y fixed at the bridge (an independent number)."""
    from ase.constraints import FixAtoms, FixedLine
    from ase.optimize import BFGS

    from md_runs.analysis.migration import neb

    slab = fcc100("Al", size=(2, 2, 3), vacuum=6.0)
    slab.pbc = True
    a = slab.cell[0, 0] / 2
    top = slab.positions[:, 2].max()
    fixed = FixAtoms(indices=[i for i, z in enumerate(slab.positions[:, 2]) if z < top - 0.1])

    def with_adatom(x, y):
        s = slab + Atoms("Au", positions=[[x, y, top + 1.7]])
        s.set_constraint(fixed)
        return s

    # hollow sites of fcc(100) sit over the second layer: half a surface cell from the top atoms
    x0, y0 = slab.positions[slab.positions[:, 2] > top - 0.1][0, :2]
    initial, final = with_adatom(x0 + a / 2, y0 + a / 2), with_adatom(x0 + 1.5 * a, y0 + a / 2)
    res = neb(initial, final, EMT, images=3, fmax=0.02, steps=400, relax_ends=True, defect="Au/Al(100)")
    assert res.converged

    def relaxed(atoms, line=None):
        atoms = atoms.copy()
        cons = [fixed] + ([FixedLine(len(atoms) - 1, [0, 0, 1])] if line else [])
        atoms.set_constraint(cons)
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=0.005, steps=500)
        return atoms.get_potential_energy()

    e_hollow = relaxed(initial)
    e_bridge = relaxed(with_adatom(x0 + a, y0 + a / 2), line=True)
    assert res.barrier_eV == pytest.approx(e_bridge - e_hollow, abs=0.01)
    assert 0.1 < res.barrier_eV < 1.0
    assert res.energies_eV[0] == 0 and abs(res.energies_eV[-1]) < 1e-3  # equivalent end points


# --- reference file, tiling, cache -----------------------------------------------------------------
def test_tiled_calculator_equals_the_base_cell_for_a_short_ranged_potential(tmp_path):
    from md_runs.validation.reference import CachedCalculator, ResultCache, TiledCalculator

    base = bulk("Cu", "fcc", a=3.6, cubic=True)
    base.rattle(0.05, seed=1)
    base.calc = EMT()
    e, f = base.get_potential_energy(), base.get_forces()
    cache = ResultCache(tmp_path / "c.jsonl")
    cached = CachedCalculator(EMT, cache)
    tiled = base.copy()
    tiled.calc = TiledCalculator(cached, (2, 2, 1))
    assert tiled.get_potential_energy() == pytest.approx(e, abs=1e-8)
    assert np.allclose(tiled.get_forces(), f, atol=1e-8)
    again = base.copy()
    again.calc = TiledCalculator(CachedCalculator(EMT, ResultCache(tmp_path / "c.jsonl")), (2, 2, 1))
    again.get_potential_energy()
    assert again.calc.inner.calls == 0 and again.calc.inner.hits == 1  # replayed from the file


def test_shipped_reference_has_provenance_and_experimental_sources():
    from md_runs.validation import load_reference

    ref = load_reference()
    m = ref.method
    assert m["method"] == "GFN1-xTB" and m["code"] == "tblite" and "status" in m
    for system, quantity in (("LiF", "a0_A"), ("Li2O", "a0_A"), ("Li", "a0_A"), ("Li2CO3", "V0_A3_per_fu"),
                             ("EC", "density_g_cm3"), ("DMC", "density_g_cm3"), ("LiF", "melting_K"),
                             ("LiF_migration", "interstitial_eV")):
        e = ref.experiment(system, quantity)
        assert e and e["value"] > 0 and e["source"], (system, quantity)
    if m["status"] != "pending":  # whatever was recomputed records how
        assert m["electronic_temperature_K"] and m["cell_sizes"] and m["versions"]["tblite"] and m["date"]
        for section in ref.data["values"].values():
            for value in section.values():
                assert value.get("cell_size") and value.get("computed")


def test_reference_file_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "ref.json"
    bad.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(SystemExit) as exc:
        main(["validate", "li-ec-gfn1", "--reference", str(bad), "--out", str(tmp_path / "v")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "validation reference" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("args, message", [
    (["no-such-model"], "no-such-model"),
    (["li-ec-gfn1", "--suite", "huge"], "--suite must be one of"),
    ([], "give a MODEL"),
])
def test_validate_bad_input_is_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["validate", *args, "--out", str(tmp_path / "v")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "v").exists()


# --- a deliberately broken model fails the right rows --------------------------------------------
class ScaledCalculator(LennardJones):
    """Lennard-Jones with every energy (and force, stress) multiplied by ``factor``."""

    def __init__(self, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        from ase.calculators.calculator import all_changes

        super().calculate(atoms, properties, system_changes or all_changes)
        for key in ("energy", "free_energy", "forces", "stress", "energies", "stresses"):
            if key in self.results:
                self.results[key] = self.results[key] * self.factor


LJ = {"epsilon": 0.1, "rc": 7.0, "smooth": True, "ro": 6.0}


def _reference_from(tmp_path: Path, sigma: float) -> Path:
    """A reference file whose 'reference method' is Lennard-Jones (through the recompute path)."""
    from md_runs.validation.recompute import ReferenceSettings, recompute

    settings = ReferenceSettings(tasks=["eos:LiF", "eos:Li"], eos_tiling={"LiF": (1, 1, 1), "Li": (2, 2, 2)},
                                 eos_search_volume_ratio=(0.5, 3.0), eos_search_points=9)
    return recompute(lambda: LennardJones(sigma=sigma, **LJ), tmp_path / "ref.json", tmp_path / "work", settings,
                     {"method": "LJ", "settings": {"sigma": sigma}}, progress=lambda line: None)


@pytest.mark.parametrize("factor, sigma, fails, passes", [
    (1.0, 2.3, set(), {"a0", "V0 per formula unit", "B0"}),         # the reference itself
    (2.0, 2.3, {"B0"}, {"a0", "V0 per formula unit"}),              # energies scaled: stiffer, same volume
    (1.0, 2.3 * 1.1, {"a0", "V0 per formula unit", "B0"}, set()),   # a wrong lattice (and a softer one)
])
def test_validate_a_broken_model_fails_the_right_rows(tmp_path, factor, sigma, fails, passes):
    from md_runs.validation import ModelSpec, suite_config, validate_model

    ref = _reference_from(tmp_path, 2.3)
    cfg = suite_config("quick", {"checks": ["eos"], "workers": 1, "eos": {"phases": ["LiF", "Li"],
                                                                            "search_volume_ratio": (0.5, 3.0)}})
    model = ModelSpec("broken", factory=lambda: ScaledCalculator(factor, sigma=sigma, **LJ))
    doc = validate_model(model, tmp_path / "out", cfg, reference=ref, progress=lambda line: None)
    verdict = {(r["phase"], r["quantity"].split(" ", 1)[1]): r["passed"] for r in doc["rows"]}
    for phase in ("LiF", "Li"):
        for q in fails:
            assert verdict[(phase, q)] is False, (phase, q, doc["rows"])
        for q in passes:
            assert verdict[(phase, q)] is True, (phase, q, doc["rows"])
    assert doc["passed"] is (not fails)
    assert doc["phases"]["LiF"]["passed"] is (not fails)
    saved = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert saved["schema"] == "seimlip.validation/1" and saved["rows"] == doc["rows"]
    md = (tmp_path / "out" / "validation.md").read_text()
    assert "| quantity | model | reference method | experiment | deviation | tolerance | pass |" in md
    assert (tmp_path / "out" / "eos.png").is_file()


# --- the export gate -------------------------------------------------------------------------------
def _melted_run(tmp_path: Path) -> Path:
    """A LiF transport run directory whose trajectory is a melt (frames of random walks from the lattice)."""
    from ase.io import write

    from md_runs.builders import sei_phase
    from md_runs.trajectory import RunInfo, write_run_info

    run = tmp_path / "md" / "LiF_T600"
    run.mkdir(parents=True)
    ideal = sei_phase("LiF", (2, 2, 2))
    ideal.info.clear()
    write(run / "initial.extxyz", ideal)
    rng = np.random.default_rng(0)
    pos = ideal.positions.copy()
    frames = []
    for k in range(40):
        pos = pos + rng.normal(0, 0.35, pos.shape)
        f = Atoms(ideal.get_chemical_symbols(), positions=pos, cell=ideal.cell, pbc=True)
        f.info.update(step=10 * k, time_ps=0.01 * k)
        frames.append(f)
    write(run / "trajectory.extxyz", frames)
    write_run_info(run, RunInfo(protocol="li_transport", name="LiF_T600", system="LiF", engine="ase",
                                ensemble="nvt-langevin", temperature_K=600.0, timestep_fs=1.0, frame_interval_ps=0.01,
                                trajectory="trajectory.extxyz", species=["Li", "F"], model="li-ec-gfn1",
                                model_sha256="0" * 64, formula_unit="LiF", steps_done=400))
    return run


def test_analysis_marks_a_melted_crystal_and_the_export_refuses_it(tmp_path, capsys):
    from md_runs.analysis import analyze
    from md_runs.analysis.result import load_result

    _melted_run(tmp_path)
    written = analyze(tmp_path / "md", tmp_path)
    crystal = load_result(written["LiF_T600/crystallinity"]).get("crystallinity")
    assert crystal.meta["melted"] is True and crystal.mean < 0.5
    d = load_result(written["LiF_T600/diffusion"]).get("li_diffusivity", region="all")
    assert d.meta["melted"] is True and d.meta["diffusive"] is False  # never 'diffusive'
    out = tmp_path / "sei.json"
    with pytest.raises(SystemExit) as exc:
        main(["export", "pybamm", str(tmp_path / "analysis"), "-o", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "refusing to export" in err and "melted" in err and "--allow-unvalidated" in err
    assert len(err.splitlines()) == 1 and not out.exists()
    main(["export", "pybamm", str(tmp_path / "analysis"), "-o", str(out), "--allow-unvalidated"])
    doc = json.loads(out.read_text())
    entry = doc["uncertainty"]["SEI lithium interstitial diffusivity [m2.s-1]"]
    assert entry["validated"] is False and any(n.startswith("UNVALIDATED") for n in entry["provenance"]["notes"])
    assert doc["validation"]["allow_unvalidated"] and doc["validation"]["unvalidated"]


def test_export_refuses_a_phase_that_failed_validation(tmp_path, capsys):
    from md_runs.export import build_export
    from md_runs.validation.outputs import SCHEMA
    from mlip.errors import UserError

    run = _melted_run(tmp_path)
    # the same run, crystalline this time: every frame on the lattice
    from ase.io import read, write

    ideal = read(run / "initial.extxyz")
    frames = []
    for k in range(40):
        f = ideal.copy()
        f.rattle(0.05, seed=k)
        f.info.update(step=10 * k, time_ps=0.01 * k)
        frames.append(f)
    write(run / "trajectory.extxyz", frames)
    from md_runs.analysis import analyze

    analyze(tmp_path / "md", tmp_path)
    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps({"schema": SCHEMA, "model": {"name": "m", "sha256": "0" * 64},
                                      "rows": [], "suite": "quick",
                                      "phases": {"LiF": {"passed": False, "failed": ["LiF a0"]}}}))
    assert build_export([tmp_path / "analysis"])["validation"]["unvalidated"] == {}
    with pytest.raises(UserError, match="LiF failed validation"):
        build_export([tmp_path / "analysis"], validation=validation)
    other = tmp_path / "other.json"
    other.write_text(validation.read_text().replace("0" * 64, "1" * 64))
    with pytest.raises(UserError, match="another model"):
        build_export([tmp_path / "analysis"], validation=other)
    doc = build_export([tmp_path / "analysis"], validation=validation, allow_unvalidated=True)
    assert all(e["validated"] is False for e in doc["uncertainty"].values())


# --- the quickstart's validation step, the export it gates and its report section ---------------
def test_quickstart_export_step_refuses_a_failed_phase_and_the_report_says_so(tmp_path):
    from active_learning.pipeline import QuickstartConfig, steps
    from active_learning.pipeline.state import Pipeline
    from active_learning.pipeline.report import write_report
    from md_runs.analysis import analyze
    from md_runs.validation import ModelSpec, suite_config, validate_model

    _melted_run(tmp_path)
    written = analyze(tmp_path / "md", tmp_path)
    ref = _reference_from(tmp_path, 2.3)
    cfg = suite_config("quick", {"checks": ["eos"], "workers": 1, "eos": {"phases": ["LiF"],
                                                                            "search_volume_ratio": (0.5, 3.0)}})
    model = ModelSpec("broken", factory=lambda: ScaledCalculator(1.0, sigma=2.3 * 1.1, **LJ))
    doc = validate_model(model, tmp_path / "validation", cfg, reference=ref, progress=lambda line: None)
    assert doc["phases"]["LiF"]["passed"] is False
    pipe = Pipeline(QuickstartConfig(export={"sei_phase": "LiF"}), tmp_path)
    pipe.records["analysis"] = {"folder": str(tmp_path / "analysis"), "results": {k: str(v) for k, v in written.items()}}
    pipe.records["validation"] = {"json": doc["files"]["json"], "markdown": doc["files"]["markdown"]}
    record = steps.export(pipe)
    assert "refusing to export" in record["refused"] and not (tmp_path / "export" / "sei.json").exists()
    pipe.records["export"] = record
    md, _ = write_report(pipe)
    text = md.read_text()
    assert "Physical validation" in text and "Export refused" in text and "--allow-unvalidated" in text
    assert "| quantity | model | reference method | experiment | deviation | tolerance | pass |" in text
    assert "MELTED" in text and "FAIL" in text


def test_a_row_says_when_the_reference_method_itself_misses_experiment():
    """GFN1-xTB's Li2O lattice is far from experiment: the row passes against the reference method
    but its note says the model inherits the reference method's error."""
    from md_runs.validation.rows import compare

    row = compare("eos", "Li2O", "Li2O a0", "Å", 5.10, reference=5.13, experiment=4.61, tol=0.01)
    assert row.passed is True and "reference method itself is +11.3 % from experiment" in row.note
    close = compare("eos", "LiF", "LiF a0", "Å", 4.03, reference=4.03, experiment=4.03, tol=0.01)
    assert "reference method itself" not in close.note


def test_reactive_rows_report_the_conserved_energy_drift_rate():
    """The drift rate is the slope of a straight-line fit per atom (meV/atom/ps), shown as info
    beside the monitors' verdict; noise about a flat line gives a rate near zero."""
    from md_runs.protocols.monitors import drift_rate
    from md_runs.validation.config import Tolerances
    from md_runs.validation.rows import is_info, reactive_rows

    t = np.linspace(0.0, 10.0, 201)
    rng = np.random.default_rng(0)
    e = -500.0 + 0.2 * t + rng.normal(0.0, 0.05, t.size)  # 0.2 eV/ps over 100 atoms = 2 meV/atom/ps
    assert drift_rate(t, e, 100) == pytest.approx(2.0, rel=0.05)
    assert abs(drift_rate(t, e - 0.2 * t, 100)) < 0.1
    assert drift_rate(t[:1], e[:1], 100) is None
    r = {"temperature_K": 400.0, "time_ps_requested": 10.0, "time_ps_done": 10.0, "stopped": None,
         "max_energy_drift_eV_atom": 0.02, "energy_drift_meV_atom_ps": drift_rate(t, e, 100)}
    rows = reactive_rows(r, Tolerances())
    assert rows[0].passed is True
    rate = [row for row in rows if "drift rate" in row.quantity]
    assert len(rate) == 1 and rate[0].unit == "meV/atom/ps" and is_info(rate[0])
    assert rate[0].model == pytest.approx(2.0, rel=0.05)
