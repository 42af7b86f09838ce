"""LAMMPS plugin (pair_style seimlip) and the md_runs.lammps driver against the ASE calculator."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from md_runs.lammps import LammpsProtocol, read_dump, run_lammps, single_point, write_lammps_data
from mlip.deploy import export, load_calculator
from mlip.errors import UserError

from helpers import TwoHopPotential, li_ec_cell, small_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lammps-models")
    a, b = small_model(0), small_model(1)
    return {
        "single": export(a, folder / "single.pt"),
        "committee": export([a, b], folder / "committee.pt"),
        "future": export(a, folder / "future.pt", extra_metadata={"format_version": 999}),
    }


@pytest.fixture(scope="module")
def interface():
    """A 100+-atom periodic Li(100) | EC/DMC interface (packmol, seeded)."""
    from md_runs.builders import li_interface, rattle

    atoms = rattle(li_interface(size=(3, 3), layers=4, n_solvent=7, seed=0), stdev=0.03, seed=1)
    assert len(atoms) >= 100
    return atoms


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def test_plugin_builds_and_loads(plugin):
    from mlip.deploy.lammps_runtime import new_lammps

    assert plugin.name == "seimlipplugin.so" and plugin.is_file()
    lmp = new_lammps()
    try:
        assert lmp.has_style("pair", "seimlip")
        assert lmp.has_style("compute", "seimlip/atom")
    finally:
        lmp.close()


@pytest.mark.parametrize("graph", ["images", "ghosts"])
def test_ase_and_lammps_agree_on_li_ec_interface(plugin, models, interface, graph):
    """Both graph constructions: periodic images of owned atoms (1-rank default) and ghost atoms."""
    reference = load_calculator(models["single"], device="cpu")
    reference.calculate(interface, ["energy", "forces", "stress"])
    ref = reference.results
    got = single_point(interface, models["single"], pair_options=f"graph {graph}")
    print(f"graph {graph}: relative differences energy {rel_diff(got['energy'], ref['energy']):.1e}, forces "
          f"{rel_diff(got['forces'], ref['forces']):.1e}, virial {rel_diff(got['stress'], ref['stress']):.1e}")
    assert rel_diff(got["energy"], ref["energy"]) <= 1e-6
    assert rel_diff(got["forces"], ref["forces"]) <= 1e-6
    volume = interface.get_volume()
    assert rel_diff(got["stress"] * volume, ref["stress"] * volume) <= 1e-6  # virial
    assert rel_diff(got["energies"], ref["energies"]) <= 1e-6
    assert np.abs(ref["forces"]).max() > 1e-2


def test_shipped_model_by_name(plugin, interface):
    """A shipped (trained, float32) model by name: LAMMPS equals ASE to float32 round-off."""
    from mlip.pretrained import available

    if "li-ec-gfn1" not in available():
        pytest.skip("li-ec-gfn1 is not shipped in this checkout")
    reference = load_calculator("li-ec-gfn1", device="cpu")
    reference.calculate(interface, ["energy", "forces", "stress"])
    got = single_point(interface, "li-ec-gfn1")
    assert rel_diff(got["energy"], reference.results["energy"]) <= 1e-6
    assert rel_diff(got["forces"], reference.results["forces"]) <= 1e-4
    assert rel_diff(got["stress"], reference.results["stress"]) <= 1e-4


def test_triclinic_rotated_cell_round_trips(plugin, models, tmp_path):
    atoms = li_ec_cell(seed=3)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    if np.linalg.det(rotation) < 0:
        rotation[:, 0] *= -1
    atoms.set_cell(atoms.cell.array @ rotation.T, scale_atoms=True)  # a general orientation
    reference = load_calculator(models["single"], device="cpu")
    reference.calculate(atoms, ["energy", "forces", "stress"])
    got = single_point(atoms, models["single"])
    assert rel_diff(got["energy"], reference.results["energy"]) <= 1e-6
    assert rel_diff(got["forces"], reference.results["forces"]) <= 1e-6
    assert rel_diff(got["stress"], reference.results["stress"]) <= 1e-6

    run = run_lammps(atoms, models["single"], LammpsProtocol(ensemble="nve", steps=0, temperature=0,
                                                             dump_every=1), workdir=tmp_path / "tri")
    frame = run.frames()[0]
    np.testing.assert_allclose(frame.cell.array, atoms.cell.array, atol=1e-9)
    dfrac = frame.get_scaled_positions(wrap=False) - atoms.get_scaled_positions(wrap=False)
    np.testing.assert_allclose(dfrac - np.round(dfrac), 0.0, atol=1e-9)
    np.testing.assert_allclose(frame.get_forces(), reference.results["forces"], atol=1e-6)


def test_two_mpi_ranks_equal_one_rank(plugin, models, interface, tmp_path):
    """1 rank (graph over periodic images) vs 2 ranks (graph through ghost atoms), committee model."""
    protocol = LammpsProtocol(ensemble="nve", steps=10, temperature=300.0, thermo_every=5, dump_every=10)
    one = run_lammps(interface, models["committee"], protocol, workdir=tmp_path / "np1")
    two = run_lammps(interface, models["committee"], protocol, workdir=tmp_path / "np2", nprocs=2)
    assert "2 by 1 by 1 MPI processor grid" in (two.workdir / "log.lammps").read_text() or \
        "1 by 2 by 1" in (two.workdir / "log.lammps").read_text() or \
        "1 by 1 by 2" in (two.workdir / "log.lammps").read_text()
    for key in ("PotEng", "TotEng", "Press", "v_seimlip_maxdev"):
        np.testing.assert_allclose(two.thermo[key], one.thermo[key], rtol=1e-8, atol=1e-8)
    f1, f2 = one.frames(), two.frames()
    assert len(f1) == len(f2) == 2
    for a, b in zip(f1, f2):
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-7)
        np.testing.assert_allclose(b.arrays["c_seimlip_dev"], a.arrays["c_seimlip_dev"], atol=1e-7)
    # and the step-0 frame equals the ASE committee (deviation formed after ghost reverse comm)
    ase_calc = load_calculator(models["committee"], device="cpu")
    ase_calc.calculate(f2[0], ["energy", "forces"])
    np.testing.assert_allclose(f2[0].arrays["c_seimlip_dev"], ase_calc.results["force_dev"], atol=1e-8)
    assert one.thermo["v_seimlip_maxdev"][0] == pytest.approx(ase_calc.results["max_force_dev"], rel=1e-6)


def test_committee_single_point_reports_spread(plugin, models):
    atoms = li_ec_cell(seed=4)
    got = single_point(atoms, models["committee"])
    ref = load_calculator(models["committee"], device="cpu")
    ref.calculate(atoms, ["energy", "forces"])
    assert got["energy_std"] == pytest.approx(ref.results["energy_std"], rel=1e-6)
    assert got["max_force_dev"] == pytest.approx(ref.results["max_force_dev"], rel=1e-6)
    np.testing.assert_allclose(got["force_dev"], ref.results["force_dev"], atol=1e-8)


@pytest.mark.parametrize("ensemble", ["minimize", "nvt", "nvt-langevin", "npt"])
def test_protocols_run(plugin, models, tmp_path, ensemble):
    atoms = li_ec_cell(seed=5)
    protocol = LammpsProtocol(ensemble=ensemble, steps=4, thermo_every=2, dump_every=2, ftol=1e-2,
                              halt_force_dev=1e6)
    run = run_lammps(atoms, models["committee"], protocol, workdir=tmp_path / ensemble)
    assert np.all(np.isfinite(run.thermo["PotEng"]))
    assert (run.workdir / "final.data").exists()
    frames = run.frames()
    assert frames and all(len(f) == len(atoms) for f in frames)
    assert "c_seimlip_dev" in frames[-1].arrays


def test_nve_conserves_energy(plugin, tmp_path):
    """NVE, 1,000 steps of 0.5 fs (0.5 ps) from 300 K: total-energy drift through the plugin.

    A random-weight network has no stable structure (it heats up and collapses), so this uses
    the smooth two-hop toy potential of test_deploy (same deployed format, same ghost handling:
    energies depend on neighbours' neighbourhoods) on a 54-atom bcc Li cell.
    """
    from md_runs.builders import li_bulk

    path = export(TwoHopPotential(), tmp_path / "nve.pt")
    atoms = li_bulk((3, 3, 3))
    protocol = LammpsProtocol(ensemble="nve", steps=1000, timestep_fs=0.5, temperature=300.0,
                              thermo_every=50, dump_every=0)
    run = run_lammps(atoms, path, protocol, workdir=tmp_path / "nve")
    etot = run.thermo["TotEng"]
    assert len(etot) == 21
    drift = (etot[-1] - etot[0]) / len(atoms)
    fluctuation = np.abs(etot - etot[0]).max() / len(atoms)
    temperature = run.thermo["Temp"][1:].mean()
    print(f"NVE 1000 x 0.5 fs, {len(atoms)} atoms, mean T {temperature:.0f} K: drift {drift:.2e} eV/atom, "
          f"max |E - E0| {fluctuation:.2e} eV/atom")
    assert temperature > 50  # the atoms really move
    assert abs(drift) < 2e-5 and fluctuation < 5e-5


@pytest.mark.slow
def test_nve_conserves_energy_with_shipped_model(plugin, interface, tmp_path):
    """The trained li-ec-gfn1 model (float32) on the 100+-atom Li|EC interface: 1,000 x 0.5 fs."""
    from mlip.pretrained import available

    if "li-ec-gfn1" not in available():
        pytest.skip("li-ec-gfn1 is not shipped in this checkout")
    protocol = LammpsProtocol(ensemble="nve", steps=1000, timestep_fs=0.5, temperature=300.0,
                              thermo_every=50, dump_every=0)
    run = run_lammps(interface, "li-ec-gfn1", protocol, workdir=tmp_path / "nve")
    etot = run.thermo["TotEng"]
    drift = (etot[-1] - etot[0]) / len(interface)
    fluctuation = np.abs(etot - etot[0]).max() / len(interface)
    print(f"shipped model NVE 1000 x 0.5 fs, {len(interface)} atoms, mean T {run.thermo['Temp'][1:].mean():.0f} K: "
          f"drift {drift:.2e} eV/atom, max |E - E0| {fluctuation:.2e} eV/atom")
    assert abs(drift) < 1e-3 and fluctuation < 2e-3


def test_lammps_errors_are_clear(plugin, models, tmp_path):
    atoms = li_ec_cell(seed=7)
    box, types = write_lammps_data(tmp_path / "a.data", atoms, ["Li", "C", "H", "O"])
    from mlip.deploy.lammps_runtime import new_lammps

    def failure(pair_style: str, coeff: str, extra: tuple[str, ...] = ()) -> str:
        lmp = new_lammps()
        try:
            lmp.commands_list(["units metal", "atom_style atomic", *extra, f"read_data {tmp_path / 'a.data'}"])
            with pytest.raises(Exception) as info:
                lmp.commands_list([pair_style, coeff, "compute dev all seimlip/atom", "run 0"])
            print(info.value)
            return str(info.value)
        finally:
            lmp.close()

    good = models["single"]
    assert "element 'Xe' (atom type 2) is not in the model's species list" in failure(
        f"pair_style seimlip {good}", "pair_coeff * * Li Xe H O")
    assert "does not exist" in failure(f"pair_style seimlip {tmp_path / 'missing.pt'}", "pair_coeff * * Li C H O")
    assert "format version 999" in failure(f"pair_style seimlip {models['future']}", "pair_coeff * * Li C H O")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    assert "cannot read" in failure(f"pair_style seimlip {junk}", "pair_coeff * * Li C H O")
    assert "one element per atom type" in failure(f"pair_style seimlip {good}", "pair_coeff * * Li C")
    assert "needs a committee model" in failure(f"pair_style seimlip {good}", "pair_coeff * * Li C H O")
    assert "graph must be auto, images, ghosts or halo" in failure(f"pair_style seimlip {good} graph x", "pair_coeff * * Li C H O")
    assert "newton pair on" in failure(f"pair_style seimlip {models['committee']}", "pair_coeff * * Li C H O",
                                       ("newton off",))
    with pytest.raises(UserError, match="element Xe is not in the model's species"):
        single_point(atoms.copy().__class__("Xe2", positions=[[0, 0, 0], [0, 0, 3]], cell=[8, 8, 8], pbc=True),
                     models["single"])


def test_lmp_binary_reports_error_without_crashing(plugin, tmp_path):
    from mlip.deploy.lammps_runtime import lmp_executable

    (tmp_path / "in.lammps").write_text(
        f"plugin load {plugin}\nunits metal\nregion b block 0 5 0 5 0 5\ncreate_box 1 b\n"
        f"mass 1 6.94\npair_style seimlip {tmp_path / 'missing.pt'}\n")
    proc = subprocess.run([lmp_executable(), "-in", "in.lammps", "-log", "none"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "ERROR: pair_style seimlip: model file" in proc.stdout + proc.stderr
    assert proc.returncode not in (-11, 139)  # not a segfault


def test_entry_point_folder_autoloads(plugin, tmp_path):
    from mlip.deploy.plugin import lammps_plugin_dir

    folder = lammps_plugin_dir()
    assert os.path.isfile(os.path.join(folder, "seimlipplugin.so"))
    code = ("from mlip.deploy.lammps_runtime import import_lammps\n"
            "lmp = import_lammps().lammps(cmdargs=['-log', 'none', '-screen', 'none'])\n"
            "print('HAS', lmp.has_style('pair', 'seimlip'))\n")
    env = dict(os.environ, LAMMPS_PLUGIN_PATH=folder, SEIMLIP_LAMMPS_AUTOLOAD="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "HAS True" in out.stdout, out.stdout + out.stderr
    env["SEIMLIP_LAMMPS_AUTOLOAD"] = "0"
    out = subprocess.run([sys.executable, "-c", "from mlip.deploy.plugin import lammps_plugin_dir as d; print(d())"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert not os.path.exists(os.path.join(out.stdout.strip(), "seimlipplugin.so"))


def test_dump_reader_round_trip(tmp_path):
    atoms = li_ec_cell(seed=8)
    box, types = write_lammps_data(tmp_path / "a.data", atoms, ["H", "Li", "C", "O"])
    x = atoms.positions @ box.rotation
    lines = ["ITEM: TIMESTEP", "7", "ITEM: NUMBER OF ATOMS", str(len(atoms)),
             "ITEM: BOX BOUNDS xy xz yz pp pp pp"]
    xy, xz, yz = box.tilt
    lo, hi = box.lo, box.hi
    lines.append(f"{lo[0] + min(0, xy, xz, xy + xz)} {hi[0] + max(0, xy, xz, xy + xz)} {xy}")
    lines.append(f"{lo[1] + min(0, yz)} {hi[1] + max(0, yz)} {xz}")
    lines.append(f"{lo[2]} {hi[2]} {yz}")
    lines.append("ITEM: ATOMS id type x y z q")
    for i in reversed(range(len(atoms))):
        lines.append(f"{i + 1} {types.index(atoms[i].symbol) + 1} {x[i, 0]:.12f} {x[i, 1]:.12f} {x[i, 2]:.12f} {i}")
    (tmp_path / "d.lammpstrj").write_text("\n".join(lines) + "\n")
    (frame,) = read_dump(tmp_path / "d.lammpstrj", types, rotation=box.rotation)
    assert frame.info["timestep"] == 7 and frame.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(frame.cell.array, atoms.cell.array, atol=1e-9)
    np.testing.assert_allclose(frame.positions, atoms.positions, atol=1e-9)
    np.testing.assert_allclose(frame.arrays["q"], np.arange(len(atoms)))
