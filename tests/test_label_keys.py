"""Label keys as MACE users write them (issue #18 item 1): virials (``REF_virials``, ASE's
``virial``; virial = -stress * V) read as stresses, and the key flags/config on ``al init`` and
``eval``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.stress import voigt_6_to_full_3x3_stress

from helpers import run_cli, write_plain_extxyz

ROOT = Path(__file__).resolve().parent.parent


def _frames_with_stress(n: int = 3):
    from mlip.data.readers import read_frames

    frames = [a for a in read_frames(ROOT / "datasets/li_ec_gfn1/test.extxyz.gz") if a.info.get("stress") is not None]
    assert len(frames) >= n
    for a in frames:
        a.info.pop("_source", None)
    return frames[:n]


def _as_virials(frames, key: str):
    """Copies with the stress replaced by ``key`` = -stress * V as a 3x3 matrix (MACE writes it so)."""
    out = []
    for a in frames:
        b = a.copy()
        b.info[key] = -voigt_6_to_full_3x3_stress(b.info.pop("stress")) * b.get_volume()
        out.append(b)
    return out


@pytest.mark.parametrize("key", ["REF_virials", "virial", "virials"])
def test_a_virial_is_read_as_minus_stress_over_volume(tmp_path, key):
    from mlip.data.readers import read_frames

    frames = _frames_with_stress()
    path = write_plain_extxyz(tmp_path / "v.extxyz", _as_virials(frames, key))
    assert f"{key}=" in path.read_text() and "stress" not in path.read_text()
    back = read_frames(path)
    for a, b in zip(frames, back):
        np.testing.assert_allclose(b.info["stress"], a.info["stress"], rtol=1e-7, atol=1e-12)
        assert key not in b.info and b.info["stress"].shape == (6,)


def test_a_stress_wins_over_a_virial_and_named_keys_are_the_only_ones_read(tmp_path):
    from mlip.data.keys import LabelKeys
    from mlip.data.readers import read_frames

    frames = _frames_with_stress(2)
    both = _as_virials(frames, "REF_virials")
    for a, b in zip(frames, both):
        b.info["stress"] = a.info["stress"] * 2.0  # a different stress beside the virial
    path = write_plain_extxyz(tmp_path / "both.extxyz", both)
    np.testing.assert_allclose(read_frames(path)[0].info["stress"], frames[0].info["stress"] * 2.0, rtol=1e-9)
    picked = read_frames(path, keys=LabelKeys(virials_key="REF_virials"))
    np.testing.assert_allclose(picked[0].info["stress"], frames[0].info["stress"], rtol=1e-7, atol=1e-12)
    none = read_frames(path, keys=LabelKeys(virials_key="dft_virial"))
    assert "stress" not in none[0].info
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="stress_key or virials_key"):
        LabelKeys(stress_key="s", virials_key="v")


def test_a_virial_without_a_cell_is_one_line_naming_the_frame(tmp_path, capsys):
    from ase import Atoms

    mol = Atoms("LiF", positions=[[0, 0, 0], [0, 0, 1.6]], pbc=False)
    mol.info.update(energy=-1.0, REF_virials=np.eye(3).ravel())
    mol.arrays["forces"] = np.zeros((2, 3))
    path = write_plain_extxyz(tmp_path / "mol.extxyz", [mol])
    code, out = run_cli(["data", "stats", path], capsys)
    assert code == 2 and f"{path}#0" in out and "REF_virials" in out and "volume" in out, out
    assert len(out.strip().splitlines()) == 1


def test_data_stats_counts_virial_frames_as_stressed(tmp_path, capsys):
    frames = _frames_with_stress()
    path = write_plain_extxyz(tmp_path / "v.extxyz", _as_virials(frames, "REF_virials"))
    code, out = run_cli(["data", "stats", path, "--virials-key", "REF_virials"], capsys)
    assert code == 0 and f"frames with stress: {len(frames)}" in out, out


def _relabelled(tmp_path, frames):
    custom = []
    for a in frames:
        b = a.copy()
        b.info["dft_energy"] = b.info.pop("energy")
        b.arrays["dft_forces"] = b.arrays.pop("forces")
        custom.append(b)
    return write_plain_extxyz(tmp_path / "dft.extxyz", _as_virials(custom, "dft_virial"))


def test_al_init_takes_the_key_flags(tmp_path, capsys):
    import yaml

    from mlip.data.readers import read_frames

    frames = [a for a in read_frames(ROOT / "datasets/li_ec_gfn1/train.extxyz.gz")[:24]]
    for a in frames:
        a.info.pop("_source", None)
        if a.info.get("stress") is None:
            a.info["stress"] = np.zeros(6)
    custom = _relabelled(tmp_path, frames)
    quick = yaml.safe_load((ROOT / "active_learning/configs/campaign_quick.yaml").read_text())
    quick.update(initial_data=[str(custom)], initial_max_frames=None, test_data=None)
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(quick))
    code, out = run_cli(["al", "init", tmp_path / "bad", "--config", tmp_path / "camp.yaml"], capsys)
    assert code == 2 and "--energy-key dft_energy" in out and not (tmp_path / "bad").exists(), out
    code, out = run_cli(["al", "init", tmp_path / "camp", "--config", tmp_path / "camp.yaml", "--energy-key",
                      "dft_energy", "--forces-key", "dft_forces", "--virials-key", "dft_virial"], capsys)
    assert code == 0, out
    resolved = yaml.safe_load((tmp_path / "camp" / "campaign.yaml").read_text())
    assert (resolved["energy_key"], resolved["forces_key"], resolved["virials_key"]) == (
        "dft_energy", "dft_forces", "dft_virial")


def test_eval_takes_the_keys_from_its_config(tmp_path, capsys):
    import json

    frames = _frames_with_stress(2)
    custom = _relabelled(tmp_path, frames)
    (tmp_path / "eval.yaml").write_text("energy_key: dft_energy\nforces_key: dft_forces\nvirials_key: dft_virial\n"
                                        "device: cpu\n")
    code, out = run_cli(["eval", "li-ec-gfn1", custom, "--config", tmp_path / "eval.yaml", "--json",
                      tmp_path / "m.json"], capsys)
    assert code == 0, out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n_frames"] == 2 and "stress" in json.dumps(metrics)
    (tmp_path / "bad.yaml").write_text("energy_kee: dft_energy\n")
    code, out = run_cli(["eval", "li-ec-gfn1", custom, "--config", tmp_path / "bad.yaml"], capsys)
    assert code == 2 and "energy_kee" in out and "bad.yaml" in out, out
