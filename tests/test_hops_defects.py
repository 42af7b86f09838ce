"""Hop counting on a synthetic lattice walk with a known number of hops; the defect-diffusivity
bookkeeping; formation-energy and concentration bookkeeping on a toy system (EMT vacancy in Cu)."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from md_runs.analysis.defects import equilibrium_concentration, formation_energy, relaxed_energy
from md_runs.analysis.hops import MIN_HOPS, count_hops, defect_diffusivity, hop_diffusivity

SPACING, L = 2.0, 5  # simple cubic sites 2 Å apart in a 10 Å periodic box


def _walk(n_hops: int, seed: int = 0):
    """One atom: vibrates at a site, flies through the midpoint, lands; plus failed attempts
    (goes to the midpoint and back) that must not count. Returns (positions [T,1,3], sites, cell)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(L)] * 3, indexing="ij"), -1).reshape(-1, 3) * SPACING
    cell = np.eye(3) * SPACING * L
    site = np.zeros(3)
    traj = []
    for h in range(n_hops):
        for _ in range(5):
            traj.append(site + rng.normal(0, 0.15, 3))
        step = np.zeros(3)
        step[rng.integers(3)] = SPACING * rng.choice([-1, 1])
        if h % 3 == 0:  # a failed attempt first: to the saddle and back
            traj.append(site + step / 2 + rng.normal(0, 0.05, 3))
            traj.append(site + step / 2 + rng.normal(0, 0.05, 3))
            traj.append(site + rng.normal(0, 0.15, 3))
        traj.append(site + step / 2)
        site = site + step
    for _ in range(5):
        traj.append(site + rng.normal(0, 0.15, 3))
    return np.array(traj)[:, None, :], grid, cell


@pytest.mark.parametrize("n", [1, 7, 30])
def test_known_number_of_hops_is_counted(n):
    pos, sites, cell = _walk(n, seed=n)
    hops = count_hops(pos, cell, sites, capture=0.7, min_residence=2)
    assert hops.n_hops == n
    assert hops.mean_hop_length == pytest.approx(SPACING, abs=1e-9)
    assert hops.enough == (n >= MIN_HOPS)


def test_wrapped_positions_give_the_same_count():
    pos, sites, cell = _walk(12, seed=3)
    wrapped = pos % (SPACING * L)
    assert count_hops(wrapped, cell, sites).n_hops == count_hops(pos, cell, sites).n_hops == 12


def test_defect_diffusivity_bookkeeping():
    # 64 Li share the displacement of one interstitial: the defect moves 64x the tracer D
    assert defect_diffusivity(1e-12, 64, 1) == pytest.approx(6.4e-11)
    assert defect_diffusivity(1e-12, 64, 2) == pytest.approx(3.2e-11)
    pos, sites, cell = _walk(30, seed=1)
    hops = count_hops(pos, cell, sites)
    # 30 hops of 2 Å in 1 ns by one defect: D = 30/1e-9 * (2e-10)^2 / 6
    assert hop_diffusivity(hops, 1e-9, 1) == pytest.approx(30 / 1e-9 * 4e-20 / 6)
    with pytest.raises(ValueError):
        defect_diffusivity(1e-12, 64, 0)


def test_vacancy_formation_energy_in_emt_copper():
    perfect = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))
    calc = EMT()
    perfect.calc = calc
    e_perfect = perfect.get_potential_energy()
    mu = e_perfect / len(perfect)  # the element's own bulk as the reservoir
    vac = perfect.copy()
    del vac[0]
    vac.calc = EMT()
    e_unrelaxed = vac.get_potential_energy()
    e_relaxed = relaxed_energy(vac, EMT(), fmax=0.01)
    ef_unrelaxed = formation_energy("vacancy", e_unrelaxed, e_perfect, mu)
    ef = formation_energy("vacancy", e_relaxed, e_perfect, mu)
    assert ef_unrelaxed == pytest.approx(e_unrelaxed - (len(perfect) - 1) * mu)
    assert 0.5 < ef < ef_unrelaxed < 2.0  # relaxation lowers it; EMT Cu: about 1 eV
    assert formation_energy("interstitial", 5.0, 2.0, 1.0) == 2.0


def test_equilibrium_concentration_is_arrhenius():
    n = 1.2e29  # sites per m^3
    assert equilibrium_concentration(0.0, 300, n) == pytest.approx(n / 6.02214076e23)
    c1, c2 = equilibrium_concentration(0.5, 300, n), equilibrium_concentration(0.5, 600, n)
    assert np.log(c2 / c1) == pytest.approx(0.5 / 8.617333262e-5 * (1 / 300 - 1 / 600))
    with pytest.raises(ValueError):
        equilibrium_concentration(0.5, -1, n)


@pytest.mark.slow  # kinisi's MCMC and the crystallinity pass over 175 frames: minutes on a shared machine
def test_defect_run_analysis_counts_the_interstitial_hops_and_scales_d(tmp_path):
    """A synthetic LiF interstitial run: the extra Li hops 24 times between neighbouring
    tetrahedral holes (a/2 apart) while every atom vibrates; the analysis finds 24 hops and
    reports D_d = D* N_Li / n_d; its density counts 32 LiF (the interstitial aside)."""
    import json

    from ase.io import write

    from md_runs.analysis import AnalysisConfig, analyze
    from md_runs.builders import sei_defect
    from md_runs.trajectory import RunInfo, write_run_info

    rng = np.random.default_rng(0)
    base = sei_defect("LiF", (2, 2, 2), "interstitial", seed=0)
    k = base.info["defect_index"]
    a = 4.03
    frames, pos = [], base.positions[k].copy()
    for hop in range(24):
        for _ in range(6):
            f = base.copy()
            f.positions += rng.normal(0, 0.06, f.positions.shape)
            f.positions[k] = pos + rng.normal(0, 0.06, 3)
            frames.append(f)
        step = np.zeros(3)
        step[hop % 3] = a / 2 * (1 if (hop // 3) % 2 == 0 else -1)
        mid = base.copy()
        mid.positions += rng.normal(0, 0.06, mid.positions.shape)
        mid.positions[k] = pos + step / 2
        frames.append(mid)
        pos = pos + step
    for _ in range(6):
        f = base.copy()
        f.positions[k] = pos
        frames.append(f)
    for i, f in enumerate(frames):
        f.info = {"time_ps": 0.1 * i}
        f.wrap()
    run = tmp_path / "LiF_interstitial_T600"
    run.mkdir()
    write_run_info(run, RunInfo(protocol="li_transport", name=run.name, system="LiF", engine="ase", ensemble="nvt",
                                temperature_K=600.0, timestep_fs=1.0, frame_interval_ps=0.1,
                                trajectory="trajectory.extxyz", species=["F", "Li"], model="synthetic",
                                formula_unit="LiF",
                                provenance={"defect": "interstitial", "n_defects": 1, "repeat": [2, 2, 2]}))
    write(run / "trajectory.extxyz", frames)
    (run / "equilibration").mkdir()  # an NPT equilibration: the density counts the host's formula units
    (run / "equilibration" / "thermo.csv").write_text(
        "time_ps,volume_A3\n" + "".join(f"{0.1 * i:.1f},{8 * a**3 * (1 + 0.001 * np.sin(i)):.4f}\n" for i in range(20)))
    analyze(run, config=AnalysisConfig(mcmc_samples=200))
    dens = json.loads((run / "analysis" / run.name / "density.json").read_text())["quantities"]
    assert dens["partial_molar_volume"]["meta"]["formula_units"] == 32  # Li33F32: 32 LiF and the interstitial
    doc = json.loads((run / "analysis" / run.name / "defect_transport.json").read_text())
    q = doc["quantities"]["li_interstitial_diffusivity"]
    assert q["meta"]["n_hops"] == 24 and q["meta"]["enough_hops"] is True
    assert q["meta"]["mean_hop_length_A"] == pytest.approx(a / 2, abs=0.01)
    assert q["mean"] == pytest.approx(q["meta"]["tracer_diffusivity"] * 33)  # 33 Li, one interstitial
    assert (run / "analysis" / run.name / "hops.png").is_file()
