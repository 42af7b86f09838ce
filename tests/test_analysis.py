"""md_runs.analysis and `seimlip analyze`: species, profiles, diffusion, conductivity, Arrhenius, density."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from md_runs.analysis import AnalysisConfig, analyze
from md_runs.analysis.arrhenius import R, arrhenius_fit
from md_runs.analysis.result import load_result
from md_runs.analysis.species import species_counts
from md_runs.builders import add_fragment, electrolyte_box, ledc_box, li_interface, li_slab, sei_phase
from md_runs.trajectory import THERMO_COLUMNS, RunInfo, write_run_info
from mlip.errors import UserError

FAST = AnalysisConfig(mcmc_samples=200)


def write_run(folder, frames, interval_ps=0.1, thermo=None, equilibration=None, **info):
    """A run directory per md_runs.trajectory: run.json, trajectory.extxyz, thermo.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    fields = dict(protocol="custom", name=folder.name, system="test", engine="ase", ensemble="nvt",
                  temperature_K=300.0, timestep_fs=1.0, frame_interval_ps=interval_ps,
                  trajectory="trajectory.extxyz", species=sorted(set(frames[0].get_chemical_symbols())),
                  model="synthetic")
    fields.update(info)
    write_run_info(folder, RunInfo(**fields))
    write(folder / "trajectory.extxyz", frames)
    for path, rows in ((folder / "thermo.csv", thermo), (folder / "equilibration" / "thermo.csv", equilibration)):
        if rows is not None:
            path.parent.mkdir(exist_ok=True)
            with path.open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(THERMO_COLUMNS)
                w.writerows(rows)
    return folder


def random_walk(n=64, n_frames=300, box=15.0, d_a2_ps=0.5, interval=0.1, seed=0, symbol="Li"):
    """Ideal 3-D random walkers with D = d_a2_ps (Å^2/ps), positions wrapped into a periodic box."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, np.sqrt(2 * d_a2_ps * interval), (n_frames - 1, n, 3))
    pos = np.concatenate([rng.uniform(0, box, (1, n, 3)), steps]).cumsum(0)
    return [Atoms(f"{symbol}{n}", positions=p % box, cell=[box] * 3, pbc=True) for p in pos]


@pytest.mark.parametrize("phase", ["LiF", "Li2O", "Li2CO3"])
def test_species_of_sei_crystals_are_their_formula_units(phase):
    assert species_counts(sei_phase(phase, (1, 1, 1))) == {phase: 4}
    assert species_counts(sei_phase(phase, (2, 1, 1))) == {phase: 8}


def test_species_of_electrolyte_and_ledc_boxes():
    ec = electrolyte_box(n_solvent=8, molarity=0.0)
    assert species_counts(ec) == {"EC": 8}
    salt = electrolyte_box(n_solvent=8)  # 1 M: one Li+/PF6- pair at this size
    n_pairs = salt.info["molecules"].get("PF6", 0)
    assert n_pairs >= 1
    assert species_counts(salt) == {"EC": 8, "PF6-": n_pairs, "Li+": n_pairs}
    mix = electrolyte_box(n_solvent=6, solvent={"EC": 0.5, "DMC": 0.5}, molarity=0.0)
    assert species_counts(mix) == {k: v for k, v in mix.info["molecules"].items()}
    assert species_counts(ledc_box(2)) == {"LEDC": 2}
    # a bond-cutoff override that breaks every C-O bond destroys the molecules
    assert "EC" not in species_counts(ec, {"C-O": 0.5})


def test_random_walk_recovers_diffusivity(tmp_path):
    d_true = 0.5  # Å^2/ps
    write_run(tmp_path / "walk", random_walk(d_a2_ps=d_true))
    written = analyze(tmp_path, config=FAST)
    res = load_result(written["walk/diffusion"])
    d = res.get("li_diffusivity", region="all")
    d_si = d_true * 1e-8
    assert d.unit == "m2/s"
    assert abs(d.mean - d_si) < 3 * d.std, (d.mean, d.std)
    assert d.meta["diffusive"] and abs(d.meta["msd_exponent"] - 1) < 0.1
    assert d.std < 0.1 * d_si
    # uncorrelated walkers: Einstein-Helfand equals Nernst-Einstein, Haven ratio 1
    h = res.get("haven_ratio")
    assert abs(h.mean - 1.0) < 3 * h.std and h.std < 0.3, (h.mean, h.std)
    ne = next(q for q in res.quantities["li_conductivity"] if q.method == "Nernst-Einstein")
    n, volume = 64, 15.0**3 * 1e-30
    expected = n * 1.602176634e-19**2 * d_si / (volume * 1.380649e-23 * 300.0)
    assert abs(ne.mean - expected) < 3 * ne.std
    summary = json.loads((tmp_path / "analysis" / "summary.json").read_text())
    assert summary["results"]["walk/diffusion"] == "walk/diffusion.json"
    assert (tmp_path / "analysis" / "config.yaml").is_file()


def test_arrhenius_fit_recovers_activation_energy():
    rng = np.random.default_rng(1)
    ea, d0 = 30e3, 1e-7  # J/mol, m^2/s
    temps = np.array([300.0, 400.0, 500.0, 600.0, 700.0])
    exact = d0 * np.exp(-ea / (R * temps))
    stds = 0.05 * exact
    noisy = exact + rng.normal(0, stds)
    fit = arrhenius_fit(temps, noisy, stds)
    assert abs(fit["Ea_J_mol"] - ea) < 3 * fit["Ea_std_J_mol"]
    assert fit["Ea_std_J_mol"] < 0.1 * ea
    assert abs(fit["ln_D0"] - np.log(d0)) < 3 * fit["ln_D0_std"]
    with pytest.raises(UserError, match="two different temperatures"):
        arrhenius_fit([300.0, 300.0], [1e-9, 2e-9], [1e-10, 1e-10])


def test_kinisi_arrhenius_agrees_with_ours_on_the_same_points():
    from md_runs.analysis.arrhenius import kinisi_arrhenius_fit

    rng = np.random.default_rng(3)
    temps = np.array([600.0, 700.0, 800.0, 900.0])
    d = 1e-7 * np.exp(-48e3 / (R * temps)) * np.exp(rng.normal(0, 0.2, 4))
    ours, theirs = arrhenius_fit(temps, d, 0.2 * d), kinisi_arrhenius_fit(temps, d, 0.2 * d, samples=100, seed=0)
    assert theirs["method"].startswith("kinisi")
    assert abs(theirs["Ea_J_mol"] - ours["Ea_J_mol"]) < ours["Ea_std_J_mol"]
    assert 0.3 < theirs["Ea_std_J_mol"] / ours["Ea_std_J_mol"] < 3.0
    assert kinisi_arrhenius_fit(temps, d, 0.2 * d, samples=100, seed=0)["Ea_J_mol"] == theirs["Ea_J_mol"]  # seeded
    no_errors = kinisi_arrhenius_fit(temps, d, [np.nan] * 4)
    assert "needs an error" in no_errors["method"] and no_errors["Ea_J_mol"] == arrhenius_fit(temps, d, [np.nan] * 4)["Ea_J_mol"]


@pytest.mark.parametrize("fragment, name", [("C2H4", "C2H4"), ("ring_opened_EC", "ring_opened_EC"), ("CO", "CO"),
                                            ("CO3", "Li2CO3"), ("Li2O", "Li2O")])
def test_species_names_of_fragments_on_li(fragment, name):
    atoms = add_fragment(li_interface(), fragment, seed=1)
    counts = species_counts(atoms)
    assert counts[name] == 1 and counts["EC"] >= 2


def test_arrhenius_over_runs_and_density(tmp_path):
    """Two temperatures of one system give an Arrhenius result; an NPT thermo gives the density."""
    ea = 20e3
    for k, t in enumerate((300.0, 600.0)):
        d = 0.5 * np.exp(-ea / R * (1 / t - 1 / 600.0))
        frames = random_walk(n=32, n_frames=120, d_a2_ps=d, seed=k)
        grow = 0.0 if t == 300.0 else 0.002  # the 600 K box is still expanding
        vol = [[i * 0.1, t, 0, 0, 0, 1.0, 15.0**3 * (1 + 0.001 * np.sin(i) + grow * i)] for i in range(40)]
        write_run(tmp_path / f"walk_T{t:g}", frames, system="walkers", temperature_K=t,
                  equilibration=vol, formula_unit="Li")
    written = analyze(tmp_path, tmp_path / "out", FAST)
    arr = load_result(written["arrhenius_walkers"])
    q = arr.get("activation_energy")
    assert q.unit == "J/mol" and q.meta["of"] == "li_diffusivity"
    assert abs(q.mean - ea) < 3 * q.std + 1e-9 and q.meta["Ea_eV"] == pytest.approx(q.mean / 96485.33212)
    assert len(arr.quantities["li_diffusivity"]) == 2
    dens = load_result(written["walk_T300/density"])
    rho = dens.get("density")
    assert rho.mean == pytest.approx(32 * 6.94 * 1.66054e-27 / (15.0**3 * 1e-30), rel=2e-3)
    vm = dens.get("partial_molar_volume")
    assert vm.mean == pytest.approx(15.0**3 * 1e-30 * 6.02214076e23 / 32, rel=2e-3)
    assert dens.get("li_to_sei_ratio").mean == 1.0
    assert rho.meta["equilibrated"] is True
    assert load_result(written["walk_T600/density"]).get("density").meta["equilibrated"] is False
    assert (tmp_path / "out" / "analysis" / "arrhenius_walkers.png").is_file()


def test_profiles_of_li_ec_interface(tmp_path):
    atoms = li_interface(size=(2, 2), layers=4, n_solvent=4, molarity=0.0)
    frames = []
    rng = np.random.default_rng(0)
    for _ in range(20):
        f = atoms.copy()
        f.positions += rng.normal(0, 0.02, f.positions.shape)
        frames.append(f)
    write_run(tmp_path / "iface", frames, surface_normal=2, system="li100|EC", protocol="sei_formation")
    written = analyze(tmp_path, config=FAST)
    prof = load_result(written["iface/profiles"])
    table = prof.tables["element_density"]
    z, li, c = np.array(table["z_A"]), np.array(table["Li_per_A3"]), np.array(table["C_per_A3"])
    slab_z = atoms.positions[np.array(atoms.get_chemical_symbols()) == "Li", 2]
    assert slab_z.min() - 0.5 <= z[np.argmax(li)] <= slab_z.max() + 0.5
    assert c[(z > slab_z.min()) & (z < slab_z.max())].max() == 0
    assert prof.get("sei_thickness").mean == 0.0  # nothing has reacted yet
    assert {q.meta["law"] for q in prof.quantities["sei_growth_rate"]} == {"linear", "parabolic"}
    spec = load_result(written["iface/species"])
    assert spec.get("species_count", species="EC").mean == 4
    metal = spec.get("species_count", species="Li(metal)").mean
    ionic = spec.quantities["species_count"]
    assert metal >= 14 and metal + sum(q.mean for q in ionic if q.meta["species"] == "Li+") == 16
    # an interface without phases in run.json gets regions from the first frame's Li species
    diff = load_result(written["iface/diffusion"])
    assert diff.get("li_diffusivity", region="metal").meta["n_tracers"] == metal


def test_sei_growth_from_f_adsorbing_on_li(tmp_path):
    """F atoms landing one by one on a Li(100) surface (n ~ sqrt(t)): LiF counts grow, parabolic law wins."""
    slab = li_slab("100", size=(3, 3), layers=3, vacuum=14.0)
    z = slab.positions[:, 2]
    top = np.flatnonzero(z > z.max() - 0.1)  # the 9 surface Li
    n_frames, n_f = 41, len(top)
    far = slab.positions[top] + [0.0, 0.0, 7.0]   # F waiting in the vacuum
    landed = slab.positions[top] + [0.0, 0.0, 1.9]  # F on top of a surface Li
    t = np.arange(n_frames) * 0.1
    n_landed = np.round(n_f * np.sqrt(t / t[-1])).astype(int)
    frames = []
    for k in n_landed:
        pos = np.vstack([slab.positions, np.where((np.arange(n_f) < k)[:, None], landed, far)])
        frames.append(Atoms(slab.get_chemical_symbols() + ["F"] * n_f, positions=pos, cell=slab.cell, pbc=True))
    write_run(tmp_path / "grow", frames, surface_normal=2, protocol="sei_formation")
    written = analyze(tmp_path, config=FAST)
    counts = load_result(written["grow/species"]).tables["counts"]
    assert counts["LiF"] == n_landed.tolist()
    assert [a + b for a, b in zip(counts["LiF"], counts["F"])] == [n_f] * n_frames
    prof = load_result(written["grow/profiles"])
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    assert prof.get("sei_thickness").mean == pytest.approx(n_f * 16.36 / area * 1e-10)
    assert prof.get("sei_thickness").meta["faces"] == 1
    best = prof.get("sei_growth_rate", preferred=True)
    assert best.meta["law"] == "parabolic" and best.unit == "m2/s"
    k_true = (n_f * 16.36 / area * 1e-10) ** 2 / (t[-1] * 1e-12)
    assert abs(best.mean - k_true) < 0.1 * k_true


def test_liquid_solvent_diffusion_and_yeh_hummer(tmp_path):
    """EC molecules translated rigidly by random walks: EC centre-of-mass D, Yeh-Hummer with a viscosity."""
    box = electrolyte_box(n_solvent=8)
    ids = box.arrays["mol_id"]
    mols = np.unique(ids)
    rng = np.random.default_rng(3)
    d_a2_ps, interval, n_frames = 0.2, 0.1, 200
    steps = rng.normal(0, np.sqrt(2 * d_a2_ps * interval), (n_frames - 1, len(mols), 3))
    shift = np.concatenate([np.zeros((1, len(mols), 3)), steps.cumsum(0)])
    frames = []
    for s in shift:
        f = box.copy()
        f.positions += s[np.searchsorted(mols, ids)]
        f.wrap()
        frames.append(f)
    li = [i for i, x in enumerate(box.get_chemical_symbols()) if x == "Li"]
    write_run(tmp_path / "liq", frames, interval_ps=interval, system="EC_1M", phases={"solvated": li})
    config = AnalysisConfig(mcmc_samples=200, viscosity_mPa_s={"EC_1M": 2.5})
    res = load_result(analyze(tmp_path, config=config)["liq/diffusion"])
    assert res.provenance["liquid"] is True
    ec = res.get("solvent_diffusivity", species="EC")
    length = box.get_volume() ** (1 / 3) * 1e-10
    correction = 2.837297 * 1.380649e-23 * 300.0 / (6 * np.pi * 2.5e-3 * length)
    assert ec.meta["finite_size_correction"] == "Yeh-Hummer"
    assert ec.meta["correction"] == pytest.approx(correction) and ec.mean == pytest.approx(ec.meta["pbc_value"] + correction)
    assert abs(ec.meta["pbc_value"] - d_a2_ps * 1e-8) < 3 * ec.std
    assert res.get("li_diffusivity", region="solvated").meta["n_tracers"] == len(li)
    assert res.get("li_diffusivity", region="all").meta["finite_size_correction"] == "Yeh-Hummer"


def test_cli_errors_are_one_line(tmp_path, capsys):
    from active_learning.cli import main

    (tmp_path / "empty").mkdir()
    missing = write_run(tmp_path / "nomov", random_walk(n=4, n_frames=5))
    (missing / "trajectory.extxyz").unlink()
    short = tmp_path / "short"
    write_run(short / "r", random_walk(n=4, n_frames=5))
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("msd_max_fraction: 2\n")
    cases = [([str(tmp_path / "empty")], "no run directories"),
             ([str(missing)], "trajectory trajectory.extxyz is missing"),
             ([str(short)], "needs at least 20"),
             ([str(short), "--config", str(bad_cfg)], "msd_max_fraction")]
    for args, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["analyze", *args])
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert exc.value.code == 2 and len(lines) == 1 and message in lines[0], err
    assert not list(short.rglob("*.json.*"))  # no temporary half-written files left


def test_real_md_of_lif_analysed_end_to_end(tmp_path):
    """ASE Langevin MD of a 64-atom LiF cell with the shipped model, then `seimlip analyze` on it."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.constraints import FixCom
    from ase.md.velocitydistribution import thermalize_momenta
    from matplotlib.image import imread

    from active_learning.cli import main
    from mlip.deploy import load_calculator

    atoms = sei_phase("LiF", (2, 2, 2))
    atoms.calc = load_calculator("li-ec-gfn1")
    temperature, every, steps = 900.0, 5, 300
    thermalize_momenta(atoms, temperature, rng=np.random.default_rng(0))
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False,
                   rng=np.random.default_rng(1))
    frames, rows = [], []

    def record():
        snap = atoms.copy()
        snap.calc = None
        snap.set_constraint()
        frames.append(snap)
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        rows.append([dyn.nsteps * 1e-3, atoms.get_temperature(), epot, ekin, epot + ekin, 0.0, atoms.get_volume()])

    dyn.attach(record, interval=every)
    dyn.run(steps)
    run = write_run(tmp_path / "md" / "LiF_T900", frames, interval_ps=every * 1e-3, thermo=rows,
                    equilibration=rows, system="LiF", temperature_K=temperature, model="li-ec-gfn1",
                    formula_unit="LiF", protocol="li_transport", ensemble="nvt-langevin")
    assert len(frames) == steps // every + 1
    (tmp_path / "a.yaml").write_text("mcmc_samples: 200\n")
    main(["analyze", str(tmp_path / "md"), "--out", str(tmp_path / "res"), "--config", str(tmp_path / "a.yaml")])
    base = tmp_path / "res" / "analysis"
    summary = json.loads((base / "summary.json").read_text())
    assert set(summary["results"]) == {"LiF_T900/diffusion", "LiF_T900/density", "LiF_T900/crystallinity"}
    assert "mcmc_samples: 200" in (base / "config.yaml").read_text()
    diff = load_result(base / "LiF_T900" / "diffusion.json")
    d = diff.get("li_diffusivity", region="all")
    assert np.isfinite(d.mean) and d.mean >= 0 and np.isfinite(d.std)
    assert d.mean < 1e-7 and isinstance(d.meta["diffusive"], bool)
    assert diff.provenance["model"] == "li-ec-gfn1" and diff.provenance["run"] == str(run)
    assert all(np.isfinite(q.mean) for q in diff.quantities["li_conductivity"])
    dens = load_result(base / "LiF_T900" / "density.json")
    assert 2000 < dens.get("density").mean < 3000  # LiF 2640 kg/m3 at the built lattice constant
    assert dens.get("li_to_sei_ratio").mean == 1.0
    for png in base.rglob("*.png"):
        image = imread(png)
        assert image.ndim == 3 and image.shape[0] > 100 and float(image[..., :3].std()) > 0.01, png
