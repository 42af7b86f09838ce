"""The labelling engine: parallel workers, timeouts that kill, crash records, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import read, write

from active_learning.reference_data.label import frame_key, label_frames, sidecar_paths
from active_learning.oracles import TBLiteConfig
from mlip.data.readers import read_frames

from campaign_oracles import ScriptedOracle

TESTS = Path(__file__).resolve().parent


def li_frames(n: int) -> list[Atoms]:
    frames = []
    for i in range(n):
        atoms = bulk("Li", "bcc", a=3.44, cubic=True)
        atoms.positions[1] += [0.02 * (i + 1), -0.01 * i, 0.015]
        atoms.info["config_type"] = f"li_{i}"
        frames.append(atoms)
    return frames


def store_rows(path: Path) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return {r["key"]: r for r in db.execute("SELECT * FROM labels")}
    finally:
        db.close()


def test_frame_key_survives_extxyz_round_trip_and_sees_geometry(tmp_path):
    atoms = li_frames(1)[0]
    write(tmp_path / "a.extxyz", atoms)
    assert frame_key(read(tmp_path / "a.extxyz")) == frame_key(atoms)
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-3
    assert frame_key(moved) != frame_key(atoms)
    relabelled = atoms.copy()
    relabelled.info["config_type"] = "other"
    assert frame_key(relabelled) == frame_key(atoms)


def test_label_frames_end_to_end_with_tblite(tmp_path):
    from tblite.ase import TBLite

    frames = li_frames(2)
    big = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 1, 1))
    big.rattle(0.03, seed=0)
    big.info["config_type"] = "li_big"
    no_cell = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], info={"config_type": "gas"})
    no_type = li_frames(3)[2]
    del no_type.info["config_type"]
    inputs = [frames[0], no_cell, big, frames[1], frames[0].copy(), no_type]
    out = tmp_path / "lab" / "out.extxyz.gz"

    summary = label_frames(inputs, TBLiteConfig(), out, workers=2, timeout=120, retries=1, progress=False)
    assert (summary.total, summary.unique, summary.done, summary.cached) == (6, 5, 4, 0)
    assert (summary.failed, summary.written, summary.oracle_calls) == (1, 5, 5)  # no retry for no cell

    labelled = read_frames(out)
    assert [a.info["config_type"] for a in labelled] == ["li_0", "li_big", "li_1", "li_0", "default"]
    for atoms in labelled:
        ref = atoms.copy()
        ref.calc = TBLite(method="GFN1-xTB", verbosity=0)
        assert atoms.info["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-8)
        assert np.allclose(atoms.arrays["forces"], ref.get_forces(), atol=1e-8)
        assert np.allclose(atoms.info["stress"], ref.get_stress(), atol=1e-10)
        assert atoms.pbc.all()

    report = json.loads(summary.failures_path.read_text())
    assert report["failed"] == 1 and report["oracle_config"]["method"] == "GFN1-xTB"
    (failure,) = report["frames"]
    assert failure["index"] == 1 and failure["reason"] == "periodic frame without a cell"
    assert failure["attempts"] == 1 and failure["config_type"] == "gas"

    again = label_frames(inputs, TBLiteConfig(), out, workers=2, timeout=120, progress=False)
    assert (again.done, again.cached, again.failed, again.oracle_calls) == (0, 4, 1, 0)
    assert all(r["attempts"] == 1 for r in store_rows(summary.store_path).values())
    assert [a.info["energy"] for a in read_frames(out)] == [a.info["energy"] for a in labelled]


def test_hung_call_is_killed_at_its_timeout_and_retried(tmp_path):
    hang, ok = li_frames(2)
    hang.info["mode"] = "hang"
    start = time.monotonic()
    summary = label_frames(
        [hang, ok], ScriptedOracle(), tmp_path / "out.extxyz", workers=1, timeout=1.5, retries=1, progress=False
    )
    assert time.monotonic() - start < 60
    assert (summary.done, summary.failed, summary.written, summary.oracle_calls) == (1, 1, 1, 3)
    (failure,) = json.loads(summary.failures_path.read_text())["frames"]
    assert failure["reason"] == "timeout after 1.5 s"
    assert (failure["attempts"], failure["failures"]) == (2, 2)
    # a rerun does not try again: the retry budget is spent
    again = label_frames([hang, ok], ScriptedOracle(), tmp_path / "out.extxyz", timeout=1.5, progress=False)
    assert again.oracle_calls == 0 and again.cached == 1 and again.failed == 1


def test_dead_worker_and_raising_oracle_are_recorded(tmp_path):
    die, boom, ok = li_frames(3)
    die.info["mode"] = "die"
    boom.info["mode"] = "raise"
    summary = label_frames(
        [die, boom, ok], ScriptedOracle(), tmp_path / "out.extxyz", workers=2, timeout=60, retries=0, progress=False
    )
    assert (summary.done, summary.failed, summary.written) == (1, 2, 1)
    reasons = {f["index"]: f["reason"] for f in json.loads(summary.failures_path.read_text())["frames"]}
    assert reasons[0] == "crash: worker process died (exit code 3)"
    assert reasons[1] == "crash: RuntimeError: boom"


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from ase.io import read
    from active_learning.reference_data.label import label_frames
    from campaign_oracles import ScriptedOracle
    frames = read(sys.argv[1], ":")
    label_frames(frames, ScriptedOracle(delay=1.0, pid_dir=sys.argv[3]), sys.argv[2], workers=1,
                 timeout=120, progress=False)
    """
)


def test_resume_after_sigkill_relabels_nothing(tmp_path):
    frames = li_frames(4)
    write(tmp_path / "in.extxyz", frames)
    out = tmp_path / "resumed.extxyz"
    _, store = sidecar_paths(out)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "in.extxyz"), str(out), str(pids)], env=env
    )
    try:
        deadline = time.monotonic() + 90
        done_before: set[str] = set()
        while time.monotonic() < deadline and not done_before:
            time.sleep(0.2)
            assert proc.poll() is None, "the labelling run ended before it could be killed"
            if store.exists():
                try:
                    done_before = {k for k, r in store_rows(store).items() if r["status"] == "done"}
                except sqlite3.OperationalError:  # schema not created yet
                    pass
        assert done_before, "no label was stored within 90 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()  # killed before the end: no output yet, only the store
    snapshot = store_rows(store)
    assert len(done_before) < 4
    # the orphaned worker notices its parent is gone and ends itself
    worker_pids = [int(p.name) for p in pids.iterdir()]
    assert worker_pids
    deadline = time.monotonic() + 10
    alive = worker_pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in worker_pids if _alive(pid)]
    assert not alive, f"orphaned worker processes {alive} survived"

    resumed = label_frames(frames, ScriptedOracle(fingerprint="scripted"), out, workers=2, timeout=120, progress=False)
    assert resumed.cached == len(done_before)
    assert resumed.done == 4 - len(done_before) and resumed.oracle_calls == resumed.done
    rows = store_rows(store)
    for key in done_before:  # nothing stored before the kill was labelled again
        assert rows[key]["attempts"] == 1
        assert rows[key]["energy"] == snapshot[key]["energy"]
    in_flight = {k for k, r in snapshot.items() if r["status"] == "running"}
    assert sum(r["attempts"] for r in rows.values()) == 4 + len(in_flight)

    fresh = tmp_path / "uninterrupted.extxyz"
    label_frames(frames, ScriptedOracle(), fresh, workers=2, timeout=120, progress=False)
    a, b = read_frames(out), read_frames(fresh)
    assert [x.info["config_type"] for x in a] == [x.info["config_type"] for x in b] == [f"li_{i}" for i in range(4)]
    for x, y in zip(a, b):
        assert x.info["energy"] == pytest.approx(y.info["energy"], abs=1e-10)
        assert np.allclose(x.arrays["forces"], y.arrays["forces"], atol=1e-10)
        assert np.allclose(x.info["stress"], y.info["stress"], atol=1e-12)
        assert np.allclose(x.positions, y.positions)


def test_second_run_on_the_same_store_is_refused(tmp_path):
    from active_learning.reference_data.label import _exclusive
    from mlip.errors import UserError

    out = tmp_path / "out.extxyz"
    with _exclusive(sidecar_paths(out)[1]):
        with pytest.raises(UserError, match="another labelling run is using this resume store"):
            label_frames(li_frames(1), None, out, progress=False)
    assert not out.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cli_label_writes_outputs_and_rejects_bad_config(tmp_path, capsys):
    from active_learning.cli import main

    write(tmp_path / "in.extxyz", li_frames(2))
    out = tmp_path / "out.extxyz"
    main(["data", "label", str(tmp_path / "in.extxyz"), "-o", str(out), "--workers", "1", "--no-progress"])
    assert len(read_frames(out)) == 2
    assert (tmp_path / "out.failures.json").exists() and (tmp_path / "out.label-config.yaml").exists()

    (tmp_path / "bad.yaml").write_text("oracle: {kind: cp2k, cutoff: 300}\n")
    bad_out = tmp_path / "bad.extxyz"
    with pytest.raises(SystemExit) as exc:
        main(["data", "label", str(tmp_path / "in.extxyz"), "-o", str(bad_out), "-c", str(tmp_path / "bad.yaml")])
    assert exc.value.code == 2
    assert "oracle.cp2k.cutoff: Extra inputs are not permitted" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["data", "label", str(tmp_path / "missing.extxyz"), "-o", str(bad_out)])
    assert exc.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("bad")) == ["bad.yaml"]  # nothing written
