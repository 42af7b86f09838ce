"""mlip.data: readers, validation, statistics, splits, and the `seimlip data` commands on bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from active_learning.cli import main
from mlip.data.readers import read_frames, write_frames
from mlip.data.split import stratified_split
from mlip.data.stats import dataset_statistics, fit_reference_energies
from mlip.data.validate import check_frames
from mlip.errors import UserError


def li_frame(i: int = 0, config_type: str = "li_bulk") -> Atoms:
    a = bulk("Li", "bcc", a=3.44, cubic=True).repeat(2)
    a.rattle(0.05, seed=i)
    a.info["energy"] = -11.0 * len(a) + 0.01 * i
    a.arrays["forces"] = np.random.default_rng(i).normal(0, 0.1, (len(a), 3))
    a.info["stress"] = np.full(6, 1e-3)
    a.info["config_type"] = config_type
    return a


def lih_frame(i: int = 0) -> Atoms:
    a = Atoms("LiH", positions=[[0, 0, 0], [1.6, 0, 0]], cell=[6, 6, 6], pbc=True)
    a.info["energy"] = -12.0 + 0.01 * i
    a.arrays["forces"] = np.array([[0.1, 0, 0], [-0.1, 0, 0]])
    a.info["config_type"] = "lih"
    return a


def test_roundtrip_extxyz_gz_and_db(tmp_path):
    frames = [li_frame(i) for i in range(3)] + [lih_frame()]
    write_frames(tmp_path / "d.extxyz.gz", frames)
    back = read_frames(tmp_path / "d.extxyz.gz")
    assert len(back) == 4
    for a, b in zip(frames, back):
        assert b.calc is None
        assert b.info["energy"] == pytest.approx(a.info["energy"])
        np.testing.assert_allclose(b.arrays["forces"], a.arrays["forces"], atol=1e-7)  # extxyz keeps 8 decimals
        assert b.info["config_type"] == a.info["config_type"]
    np.testing.assert_allclose(back[0].info["stress"], frames[0].info["stress"])
    assert "stress" not in back[3].info

    import ase.db
    from ase.calculators.singlepoint import SinglePointCalculator

    with ase.db.connect(str(tmp_path / "d.db")) as db:
        for a in frames[:2]:
            c = a.copy()
            c.calc = SinglePointCalculator(c, energy=a.info["energy"], forces=a.arrays["forces"])
            db.write(c, config_type=a.info["config_type"])
    from_db = read_frames(tmp_path / "d.db")
    assert [f.info["energy"] for f in from_db] == pytest.approx([a.info["energy"] for a in frames[:2]])
    np.testing.assert_allclose(from_db[1].arrays["forces"], frames[1].arrays["forces"], atol=1e-7)
    assert from_db[0].info["config_type"] == "li_bulk"


def test_reads_vasp_outcar_like_formats_through_ase(tmp_path):
    # Any ase.io format: a calculator result written as a VASP-style POSCAR has no labels,
    # and validation reports exactly that.
    import ase.io

    ase.io.write(tmp_path / "POSCAR", li_frame(), format="vasp")
    frames = read_frames(tmp_path / "POSCAR")
    problems = check_frames(frames)
    assert problems == [f"{tmp_path / 'POSCAR'}#0: missing energy label (info['energy'])",
                        f"{tmp_path / 'POSCAR'}#0: missing forces label (arrays['forces'])"]


def test_reference_energies_recover_known_values():
    rng = np.random.default_rng(0)
    e0 = {"H": -10.7, "Li": -4.9, "C": -48.8}
    frames = []
    for k in range(12):
        n = rng.integers(1, 6, size=3)
        a = Atoms("H" * n[0] + "Li" * n[1] + "C" * n[2])
        a.info["energy"] = float(n @ np.array(list(e0.values())))
        frames.append(a)
    fit = fit_reference_energies(frames, ["H", "Li", "C", "O"])
    for s, e in e0.items():
        assert fit[s] == pytest.approx(e, abs=1e-8)
    assert fit["O"] == 0.0
    st = dataset_statistics(frames, ["H", "Li", "C", "O"])
    assert st.residual_energy_per_atom.max == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(UserError, match="missing for"):
        fit_reference_energies(frames, ["H", "Li"], "isolated", {"H": 1.0})


def test_split_is_stratified_and_reproducible():
    frames = [li_frame(i, "a") for i in range(20)] + [li_frame(i, "b") for i in range(5)]
    s1 = stratified_split(frames, (0.8, 0.1, 0.1), seed=3)
    s2 = stratified_split(frames, (0.8, 0.1, 0.1), seed=3)
    s3 = stratified_split(frames, (0.8, 0.1, 0.1), seed=4)
    ids = lambda part: [id(a) for a in part]  # noqa: E731
    assert all(ids(s1[k]) == ids(s2[k]) for k in s1)
    assert ids(s1["test"]) != ids(s3["test"])
    assert sum(len(v) for v in s1.values()) == 25
    assert len({id(a) for v in s1.values() for a in v}) == 25
    for part in ("val", "test"):  # every category is represented in every part
        assert {a.info["config_type"] for a in s1[part]} == {"a", "b"}
    assert len(s1["train"]) == 16 + 3


def test_stats_and_split_commands(tmp_path, capsys):
    write_frames(tmp_path / "d.extxyz", [li_frame(i, "a" if i % 2 else "b") for i in range(10)])
    main(["data", "stats", str(tmp_path / "d.extxyz"), "--json", str(tmp_path / "s.json")])
    out = capsys.readouterr().out
    assert "invalid frames: 0" in out and "total" in out
    import json

    st = json.loads((tmp_path / "s.json").read_text())
    assert st["per_config_type"] == {"a": 5, "b": 5}
    main(["data", "split", str(tmp_path / "d.extxyz"), "-o", str(tmp_path / "split"), "--seed", "1"])
    parts = {p: len(read_frames(tmp_path / "split" / f"{p}.extxyz.gz")) for p in ("train", "val", "test")}
    assert sum(parts.values()) == 10 and parts["test"] >= 2
    assert (tmp_path / "split" / "split_config.yaml").exists()


# ---- bad input: one line, exit code 2, nothing written ------------------------------------------

def _text(path: Path, content: str | bytes) -> Path:
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _xyz(path: Path, frames) -> Path:
    write_frames(path, frames)
    return path


def _mutate(fn):
    a = li_frame()
    fn(a)
    return [a]


def _set(key, value, where="info"):
    def f(a):
        getattr(a, where)[key] = value
    return f


BAD_INPUTS = {
    "missing_file": (lambda d: d / "nope.extxyz", "no such file"),
    "empty_file": (lambda d: _text(d / "e.extxyz", ""), "holds no frames"),
    "garbage_text": (lambda d: _text(d / "g.extxyz", "hello\nworld\n"), "cannot read"),
    "truncated_extxyz": (
        lambda d: _text(d / "t.extxyz", '10\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3\nLi 0 0 0\nLi 1 1 1\n'),
        "cannot read",
    ),
    "corrupt_gzip": (lambda d: _text(d / "c.extxyz.gz", b"\x1f\x8bnot really gzip"), "corrupt|cannot read"),
    "nan_forces": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.arrays["forces"].__setitem__((0, 0), np.nan))), "forces contain NaN"),
    "inf_energy": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("energy", np.inf))), "energy is NaN or inf"),
    "missing_energy": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.info.pop("energy"))), "missing energy"),
    "missing_forces": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.arrays.pop("forces"))), "missing forces"),
    "unknown_element": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.numbers.__setitem__(0, 79))), "Au outside the model's species"),
    "periodic_without_cell": (lambda d: _xyz(d / "x.extxyz", [_no_cell()]), "periodic frame without a cell"),
    "atoms_too_close": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.positions.__setitem__(1, a.positions[0] + 0.2))), "apart"),
    "forces_wrong_units": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.arrays.__setitem__("forces", a.arrays["forces"] * 2000))), "wrong units"),
    "stress_nan": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("stress", np.array([np.nan] * 6)))), "stress contains NaN"),
    "stress_in_gpa": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("stress", np.full(6, 50.0)))), "GPa or kbar"),
    "energy_wrong_units": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("energy", -5e6))), "wrong units"),
    "nan_positions": (lambda d: _xyz(d / "x.extxyz", _mutate(lambda a: a.positions.__setitem__((0, 0), np.nan))), "positions contain NaN"),
    "energy_not_a_number": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("energy", "abc"))), "energy"),
    "empty_folder": (lambda d: (d / "empty").mkdir() or d / "empty", "holds no data files"),
    "bad_stress_shape": (lambda d: _xyz(d / "x.extxyz", _mutate(_set("stress", np.zeros(4)))), "stress"),
    "empty_database": (lambda d: _empty_db(d / "e.db"), "holds no frames"),
}


def _no_cell():
    a = lih_frame()
    a.cell[:] = 0.0
    return a


def _empty_db(path):
    import ase.db

    ase.db.connect(str(path)).count()
    return path


@pytest.mark.parametrize("command", ["stats", "split"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_and_writes_nothing(case, command, tmp_path, capsys):
    make, pattern = BAD_INPUTS[case]
    src = tmp_path / "in"
    src.mkdir()
    path = make(src)
    out = tmp_path / "out"
    argv = ["data", command, str(path)] + (["-o", str(out)] if command == "split" else ["--json", str(out / "s.json")])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    import re

    assert re.search(pattern, err), err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    "config_text, pattern",
    [
        ("fractions: [0.5, 0.2]\n", "fractions"),
        ("fractions: [0.5, 0.2, 0.2]\n", "summing to 1"),
        ("seeed: 3\n", "seeed: Extra inputs"),
        ("seed: [oops\n", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_config_gives_one_line(config_text, pattern, tmp_path, capsys):
    write_frames(tmp_path / "d.extxyz", [li_frame(i) for i in range(4)])
    (tmp_path / "c.yaml").write_text(config_text)
    with pytest.raises(SystemExit) as exc:
        main(["data", "split", str(tmp_path / "d.extxyz"), "-o", str(tmp_path / "out"), "--config", str(tmp_path / "c.yaml")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and __import__("re").search(pattern, err), err
    assert not (tmp_path / "out").exists()
