"""Deployment: export round trip, ASE calculator (FD checks), committees, error messages."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from mlip.deploy import export, load_calculator, load_deployed
from mlip.errors import UserError

from helpers import FORMAT_1_FILE, SPECIES, TwoHopPotential, li_ec_cell, small_model

@pytest.fixture(scope="module")
def model():
    return small_model(0)


@pytest.fixture(scope="module")
def deployed(model, tmp_path_factory):
    return export(model, tmp_path_factory.mktemp("deploy") / "model.pt")


def test_export_round_trip_matches_eager_model(model, deployed):
    from mlip.data.graph import atoms_to_graph
    from mlip.model import energy_forces_stress

    module, meta = load_deployed(deployed)
    assert meta["species"] == SPECIES and meta["n_members"] == 1 and meta["dtype"] == "float64"
    assert meta["n_interactions"] == 2 and meta["ghost_cutoff"] == pytest.approx(8.0)
    atoms = li_ec_cell()
    atoms.calc = load_calculator(deployed, device="cpu")
    ref = energy_forces_stress(model, atoms_to_graph(atoms, SPECIES, model.cutoff))
    assert atoms.get_potential_energy() == pytest.approx(float(ref["energy"][0]), rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), ref["forces"].numpy(), atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), ref["stress"][0].numpy(), atol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), atoms.get_potential_energy(), rtol=1e-12)
    assert np.abs(atoms.get_forces()).max() > 1e-3  # the model is not trivially flat


def test_calculator_forces_and_stress_are_energy_derivatives(deployed):
    atoms = li_ec_cell(seed=1)
    atoms.calc = load_calculator(deployed, device="cpu")
    forces = atoms.get_forces()
    stress = atoms.get_stress(voigt=False)
    h = 1e-4
    for index, d in [(0, 0), (7, 2), (len(atoms) - 1, 1), (len(atoms) - 4, 0)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.calc = minus.calc = atoms.calc
        plus.positions[index, d] += h
        e_plus = plus.get_potential_energy()
        minus.positions[index, d] -= h
        e_minus = minus.get_potential_energy()
        assert forces[index, d] == pytest.approx(-(e_plus - e_minus) / (2 * h), abs=1e-6)
    volume = atoms.get_volume()
    for a, b in [(0, 0), (2, 2), (0, 1), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            eps = np.eye(3)
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            strained.set_cell(atoms.cell.array @ eps, scale_atoms=True)
            strained.calc = atoms.calc
            energies.append(strained.get_potential_energy())
        assert stress[a, b] == pytest.approx((energies[0] - energies[1]) / (2 * h) / volume, abs=1e-7)


def test_any_torchscript_potential_exports(tmp_path):
    """export() takes any module with species, cutoff and config.n_interactions."""
    path = export(TwoHopPotential(), tmp_path / "toy.pt")
    meta = load_deployed(path)[1]
    assert meta["n_interactions"] == 2 and meta["members"][0]["config"] == {"n_interactions": 2}
    atoms = li_ec_cell(seed=9)
    atoms.calc = load_calculator(path, device="cpu")
    f = atoms.get_forces()
    h = 1e-5
    atoms.positions[3, 1] += h
    e_plus = atoms.get_potential_energy()
    atoms.positions[3, 1] -= 2 * h
    e_minus = atoms.get_potential_energy()
    assert f[3, 1] == pytest.approx(-(e_plus - e_minus) / (2 * h), abs=1e-6)


def test_calculator_on_a_molecule_without_cell(deployed):
    from md_runs.builders import molecule_geometry

    atoms = molecule_geometry("EC")
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    atoms.calc = load_calculator(deployed, device="cpu")
    assert np.isfinite(atoms.get_potential_energy())
    assert abs(atoms.get_forces().sum(0)).max() < 1e-10  # no net force on an isolated molecule
    assert "stress" not in atoms.calc.results


def test_committee_spread(model, tmp_path):
    atoms = li_ec_cell(seed=2)
    same = load_calculator(export([model, model], tmp_path / "same.pt"), device="cpu")
    same.calculate(atoms, ["energy"])
    assert same.results["energy_std"] == pytest.approx(0.0, abs=1e-12)
    assert np.abs(same.results["force_dev"]).max() < 1e-12
    single = load_calculator(model, device="cpu")
    single.calculate(atoms, ["energy"])
    assert same.results["energy"] == pytest.approx(single.results["energy"], rel=1e-12)

    other = small_model(seed=1)
    path = export([model, other], tmp_path / "committee.pt")
    assert load_deployed(path)[1]["n_members"] == 2
    committee = load_calculator(path, device="cpu")
    committee.calculate(atoms, ["energy", "forces"])
    r = committee.results
    second = load_calculator(other, device="cpu")
    second.calculate(atoms, ["energy", "forces"])
    f1, f2 = single.results["forces"], second.results["forces"]
    assert r["energy"] == pytest.approx((single.results["energy"] + second.results["energy"]) / 2, rel=1e-12)
    assert r["energy_std"] == pytest.approx(abs(single.results["energy"] - second.results["energy"]) / 2, rel=1e-9)
    np.testing.assert_allclose(r["forces"], (f1 + f2) / 2, atol=1e-10)
    expected_dev = np.linalg.norm(f1 - f2, axis=1) / 2  # sqrt(mean_k |F_k - <F>|^2) for K=2
    np.testing.assert_allclose(r["force_dev"], expected_dev, atol=1e-10)
    assert r["max_force_dev"] == pytest.approx(expected_dev.max()) and r["max_force_dev"] > 0


def test_float32_export_runs(model, tmp_path):
    path = export(model, tmp_path / "f32.pt", dtype="float32")
    module, meta = load_deployed(path)
    assert meta["dtype"] == "float32"
    atoms = li_ec_cell()
    atoms.calc = load_calculator(path, device="cpu")
    ref = load_calculator(model, device="cpu")
    ref.calculate(atoms, ["energy"])
    assert atoms.get_potential_energy() == pytest.approx(ref.results["energy"], rel=1e-5)


def test_export_and_calculator_from_checkpoint(model, tmp_path):
    from mlip.cli.deploy import deploy
    from mlip.train.checkpoint import save_checkpoint

    ckpt = tmp_path / "model.ckpt"
    save_checkpoint(ckpt, {"model": model.to_state(), "ema": None})
    out = tmp_path / "from_ckpt.pt"
    deploy(checkpoint=[ckpt], output=out, dtype=None, config=None)
    meta = load_deployed(out)[1]
    assert meta["members"][0]["source"] == str(ckpt)
    atoms = li_ec_cell()
    a, b = load_calculator(out, device="cpu"), load_calculator(ckpt, device="cpu")
    a.calculate(atoms, ["energy"])
    b.calculate(atoms, ["energy"])
    assert a.results["energy"] == pytest.approx(b.results["energy"], rel=1e-12)


def _graph_of(atoms, cutoff):
    from mlip.deploy.calculator import _neighbour_list

    pos, cell = atoms.get_positions(), atoms.cell.array
    i, j, shifts = _neighbour_list(pos, cell, atoms.pbc, cutoff)
    species = np.array([SPECIES.index(s) for s in atoms.get_chemical_symbols()])
    return species, np.stack([i, j]), pos[j] - pos[i] + shifts @ cell


def test_torch_export_format_matches_torchscript_through_ase(model, deployed, tmp_path):
    """`seimlip deploy --format export`: a torch.export program with the TorchScript file's metadata
    and, through the ASE calculator on a cell of another size than the traced example, its results;
    LAMMPS refuses it in one line."""
    from md_runs.lammps.run import lammps_model_file
    from mlip.cli.deploy import deploy
    from mlip.train.checkpoint import save_checkpoint

    ckpt = tmp_path / "model.ckpt"
    save_checkpoint(ckpt, {"model": model.to_state(), "ema": None})
    out = tmp_path / "model.pt2"
    deploy(checkpoint=[ckpt], output=out, dtype=None, module_format="export", config=None)
    meta, scripted_meta = load_deployed(out)[1], load_deployed(deployed)[1]
    assert meta["module_format"] == "export" and scripted_meta["module_format"] == "torchscript"
    shared = ("format", "format_version", "species", "cutoff", "n_interactions", "ghost_cutoff", "n_members", "dtype")
    assert {k: meta[k] for k in shared} == {k: scripted_meta[k] for k in shared}
    atoms = li_ec_cell(seed=6).repeat((2, 1, 1))
    exported, scripted = load_calculator(out, device="cpu"), load_calculator(deployed, device="cpu")
    for calc in (exported, scripted):
        calc.calculate(atoms, ["energy", "forces", "stress"])
    assert exported.results["energy"] == pytest.approx(scripted.results["energy"], rel=1e-12)
    np.testing.assert_allclose(exported.results["forces"], scripted.results["forces"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(exported.results["stress"], scripted.results["stress"], rtol=0, atol=1e-14)
    # the program's sizes are not fixed by its traced example: one atom without edges, fewer local atoms
    lone = [calc.get_property("energy", Atoms("Li")) for calc in (exported, scripted)]
    assert lone[0] == lone[1]
    graph = [torch.as_tensor(x) for x in _graph_of(atoms, exported.cutoff)]
    few = [module(*graph, 10)["forces"] for module in (exported.module, scripted.module)]
    torch.testing.assert_close(few[0], few[1], rtol=0, atol=1e-12)
    with pytest.raises(UserError, match="LAMMPS loads TorchScript") as err:
        lammps_model_file(out)
    assert "\n" not in str(err.value)


def test_load_errors_are_clear(deployed, model, tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_deployed(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(UserError, match="not a seimlip deployed model"):
        load_deployed(junk)
    ckpt = tmp_path / "state.pt"
    torch.save({"a": torch.zeros(2)}, ckpt)
    with pytest.raises(UserError, match="training checkpoint"):
        load_deployed(ckpt)
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(UserError, match="without seimlip metadata"):
        load_deployed(plain)
    future = export(model, tmp_path / "future.pt", extra_metadata={"format_version": 999})
    with pytest.raises(UserError, match="format version 999"):
        load_deployed(future)
    with pytest.raises(UserError, match="format version 999"):
        load_calculator(future)
    with pytest.raises(UserError, match="shipped model"):
        load_calculator("no-such-model")
    calc = load_calculator(deployed, device="cpu")
    with pytest.raises(UserError, match="Xe is not in the model"):
        calc.calculate(bulk("Xe", "fcc", a=6.0), ["energy"])


def test_metadata_is_plain_json_in_the_archive(deployed):
    with zipfile.ZipFile(deployed) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/extra/seimlip.json"))
        meta = json.loads(zf.read(name))
    assert meta["format"] == "seimlip-deployed" and meta["units"] == "metal"
    assert meta["members"][0]["config"]["n_interactions"] == 2


def test_export_function_survives_import_of_its_module():
    """`from mlip.deploy import export` is the function even after the exporter module was imported."""
    import importlib

    import mlip.deploy

    importlib.import_module("mlip.deploy.exporter")
    from mlip.deploy import export

    assert callable(export) and export is mlip.deploy.export


def test_a_deployed_file_of_the_older_format_is_re_exported_from_its_own_weights(tmp_path):
    """`seimlip deploy` of a deployed single model of format 1 (the shipped file as it was, kept in
    tests/data) writes the current format, with the layer methods multi-rank LAMMPS needs, and
    the same forces."""
    from mlip.deploy.format import FORMAT_VERSION, read_metadata

    old = FORMAT_1_FILE
    assert read_metadata(old)["format_version"] == 1
    new = export(str(old), tmp_path / "upgraded.pt")
    meta = read_metadata(new)
    assert meta["format_version"] == FORMAT_VERSION and meta.get("halo_exchange") is True
    assert read_metadata(old)["species"] == meta["species"]
    atoms = li_ec_cell(0)
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = load_calculator(str(old)), load_calculator(str(new))
    assert np.abs(a.get_forces() - b.get_forces()).max() < 1e-5
    assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=2e-3)  # float32 sums
