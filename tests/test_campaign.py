"""The active-learning campaign service: store, selection, executors (local pool and Parsl),
committee training, concurrent submit, a flaky oracle, and real GFN1-xTB campaigns that are
SIGKILLed at several points and resumed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from active_learning.campaign import CampaignStore, campaign_status, init_campaign, run_campaign, submit_frames
from active_learning.campaign.config import ExecutorConfig
from active_learning.campaign.label_step import label_jobs
from active_learning.campaign.selection import classify, farthest_point_sampling, unphysical_reason
from active_learning.campaign.store import frames_t, jobs_t, sqlite_url
from active_learning.oracles.base import LabelResult
from active_learning.reference_data.label_store import frame_key
from mlip.data.readers import read_frames, write_frames
from mlip.errors import UserError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = ROOT / "datasets" / "li_ec_gfn1"
SEIMLIP = [sys.executable, "-c", "from active_learning.cli import main; main()"]
TINY_MODEL = {"preset": "small", "channels": 8, "sh_lmax": 1, "l_max": 1, "n_interactions": 1, "correlation": 2,
              "radial_hidden": 16, "readout_hidden": 0}


def every_nth_frame(path: Path, step: int, limit: int, out: Path) -> Path:
    """Write every ``step``-th extxyz frame of ``path`` (at most ``limit``) to ``out``, as text
    (parsing only the frames kept: reading the whole gzipped set with ASE takes long)."""
    import gzip

    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    kept, i, k = [], 0, 0
    while i < len(lines) and len(kept) < limit:
        n = int(lines[i])
        if k % step == 0:
            kept.append("".join(lines[i:i + n + 2]))
        i, k = i + n + 2, k + 1
    out.write_text("".join(kept))
    return out


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> tuple[Path, Path]:
    """40 initial frames (every 30th training frame) and 30 held-out test frames."""
    out = tmp_path_factory.mktemp("campaign_data")
    return (every_nth_frame(DATA / "train.extxyz.gz", 30, 40, out / "initial.extxyz"),
            every_nth_frame(DATA / "test.extxyz.gz", 5, 30, out / "test.extxyz"))


def campaign_config(data_files, **changes) -> dict:
    initial, test = data_files
    cfg = {
        "name": "test", "seed": 0, "initial_data": [str(initial)], "test_data": str(test),
        "executor": {"kind": "local", "workers": 2, "timeout_s": 60, "retries": 1},
        "exploration": {
            "engine": "ase", "steps": 200, "timestep_fs": 1.0, "interval": 10,
            "systems": [{"name": "interface_100", "temperatures": [400],
                         "build": {"builder": "interface", "face": "100", "size": [2, 2], "layers": 2, "n_solvent": 2,
                                   "solvent": {"EC": 1.0}, "molarity": 0.0, "gap": 2.0}}],
        },
        "selection": {"trust_lo": 0.05, "trust_hi": 20.0, "budget": 6},
        "training": {"committee_size": 2, "mode": "finetune", "model": TINY_MODEL, "initial_epochs": 6, "epochs": 3,
                     "overrides": {"patience": None}},
        "convergence": {"max_iterations": 2, "max_oracle_calls": 200},
        "wandb": {"enabled": False},
    }
    for key, value in changes.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
    return cfg


def li_frames(n: int, offset: int = 0):
    frames = []
    for i in range(offset, offset + n):
        atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 1, 1))
        atoms.positions[1] += [0.01 * (i + 1), -0.005 * i, 0.02]
        atoms.info["config_type"] = "li"
        frames.append(atoms)
    return frames


# -- units: selection and the store ------------------------------------------------------------
def test_trust_levels_and_farthest_point_sampling():
    assert [classify(d, 0.05, 0.5) for d in (0.01, 0.2, 0.7, np.nan)] == ["accurate", "candidate", "discarded",
                                                                          "discarded"]
    rng = np.random.default_rng(0)
    clusters = np.concatenate([rng.normal(c, 0.01, size=(10, 3)) for c in ((0, 0, 0), (5, 0, 0), (0, 5, 0))])
    picked, dups = farthest_point_sampling(clusters, 3)
    assert sorted(k // 10 for k in picked) == [0, 1, 2]  # one pick per cluster: diverse
    picked, _ = farthest_point_sampling(clusters, 2, labelled=clusters[:1])  # far from the labelled cluster
    assert all(k >= 10 for k in picked)
    same = np.zeros((4, 3))
    picked, dups = farthest_point_sampling(same, 4, duplicate_distance=1e-3)
    assert len(picked) == 1 and sorted(dups + picked) == [0, 1, 2, 3]
    squeezed = li_frames(1)[0]
    squeezed.positions[1] = squeezed.positions[0] + [0.3, 0, 0]
    assert "apart" in unphysical_reason(squeezed)
    assert unphysical_reason(li_frames(1)[0]) is None
    exploded = li_frames(1)[0]
    exploded.set_cell(exploded.cell * 2.0, scale_atoms=True)
    assert "exploded" in unphysical_reason(exploded, reference_volume=li_frames(1)[0].get_volume())


def test_store_jobs_never_relabel_and_orphans_requeue(tmp_path):
    store = CampaignStore(sqlite_url(tmp_path / "c.db"))
    frames = li_frames(3)
    assert store.add_frames(frames + frames[:1], "x", "explored", "candidate", iteration=1) == (3, 1)
    assert store.add_frames(frames[:2], "y", "submitted", "pending") == (0, 2)
    ids = [r.id for r in store.frames(frames_t.c.status == "candidate")]
    store.queue_jobs(1, ids, {i: {"status": "selected"} for i in ids}, {"selected": 3})
    store.queue_jobs(1, ids[:1], {}, {})  # one job per frame, ever: a second one is not created
    jobs = store.jobs()
    assert [j.status for j in jobs] == ["queued"] * 3
    store.start_job(jobs[0].id)
    store.start_job(jobs[1].id)
    assert store.requeue_orphans() == 2  # a stopped run's "running" jobs go back to the queue
    store.start_job(jobs[0].id)
    labelled = frames[0].copy()
    labelled.info["energy"] = -1.0
    labelled.arrays["forces"] = np.zeros((len(labelled), 3))
    assert store.finish_job(jobs[0].id, LabelResult(True, labelled, None, 0.1), retries=1) == "done"
    assert store.finish_job(jobs[0].id, LabelResult(False, None, "crash: late", 0.1), retries=1) == "done"
    store.start_job(jobs[1].id)
    assert store.finish_job(jobs[1].id, LabelResult(False, None, "timeout after 1 s", 1.0), retries=1) == "queued"
    store.start_job(jobs[1].id)
    assert store.finish_job(jobs[1].id, LabelResult(False, None, "timeout after 1 s", 1.0), retries=1) == "failed"
    store.start_job(jobs[2].id)
    assert store.finish_job(jobs[2].id, LabelResult(False, None, "scf_not_converged: x", 1.0), retries=3) == "failed"
    rows = {j.id: j for j in store.jobs()}
    job1 = rows[jobs[1].id]  # 3 calls started (one lost to the stop), 2 failed
    assert (job1.attempts, job1.failures) == (3, 2) and job1.reason.startswith("timeout")
    assert rows[jobs[2].id].attempts == 1  # an unconverged SCF is never retried, never a label
    assert len(store.attempts()) == 4  # the late result for a done job is ignored, not recorded
    assert len(store.labelled_frames()) == 1 and store.labelled_frames()[0].info["energy"] == -1.0
    store.close()


def test_concurrent_submit_loses_nothing_and_stores_no_duplicate(tmp_path, data_files):
    camp = init_campaign(campaign_config(data_files), tmp_path / "camp")
    files = []
    for p in range(4):  # 4 producers x 20 frames, overlapping by 10 with the next producer
        path = tmp_path / f"run{p}.extxyz"
        write_frames(path, li_frames(20, offset=10 * p))
        files.append(path)
    procs = [subprocess.Popen([*SEIMLIP, "al", "submit", str(camp), str(f), "--source", f"md{p}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p, f in enumerate(files)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    added = sum(int(o[0].split()[0]) for o in outs)
    store = CampaignStore(sqlite_url(camp / "campaign.db"))
    pending = store.frames(frames_t.c.status == "pending")
    store.close()
    expected = {frame_key(a) for a in li_frames(50)}  # frames 0..49
    assert added == 50 and {r.hash for r in pending} == expected and len(pending) == 50
    assert submit_frames(camp, li_frames(5, offset=45), "again")[:2] == (0, 5)


def test_init_errors_are_user_errors(tmp_path, data_files):
    with pytest.raises(UserError, match="initial_data"):
        init_campaign(campaign_config(data_files, initial_data=[]), tmp_path / "a")
    with pytest.raises(UserError, match="trust_hi"):
        init_campaign(campaign_config(data_files, selection={"trust_lo": 1.0, "trust_hi": 0.5}), tmp_path / "b")
    init_campaign(campaign_config(data_files), tmp_path / "c")
    with pytest.raises(UserError, match="already holds a campaign"):
        init_campaign(campaign_config(data_files), tmp_path / "c")
    proc = subprocess.run([*SEIMLIP, "al", "status", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "not a campaign folder" in proc.stderr


# -- executors ------------------------------------------------------------------------------------
def _queue(store: CampaignStore, frames, iteration: int = 1) -> None:
    store.add_frames(frames, "t", "explored", "candidate", iteration=iteration)
    ids = [r.id for r in store.frames(frames_t.c.iteration == iteration)]
    store.set_phase(iteration, "select")
    store.queue_jobs(iteration, ids, {i: {"status": "selected"} for i in ids}, {})


def test_flaky_oracle_failures_are_recorded_and_never_stop_labelling(tmp_path):
    from campaign_oracles import HashFlakyOracle

    oracle = HashFlakyOracle(modulus=4, hang=(0,), fail=(1,))
    frames = li_frames(12)
    buckets = [oracle.bucket(a) for a in frames]
    assert 0 in buckets and 1 in buckets and any(b > 1 for b in buckets)
    store = CampaignStore(sqlite_url(tmp_path / "c.db"))
    _queue(store, frames)
    counts = label_jobs(store, 1, oracle, ExecutorConfig(workers=2, timeout_s=4, retries=1), tmp_path)
    by_hash = {j.hash: j for j in store.jobs()}
    for atoms, bucket in zip(frames, buckets):
        job = by_hash[frame_key(atoms)]
        if bucket == 0:
            assert job.status == "failed" and job.reason.startswith("timeout") and job.attempts == 2
        elif bucket == 1:
            assert job.status == "failed" and "flaky oracle refuses" in job.reason and job.attempts == 2
        else:
            assert job.status == "done" and job.attempts == 1
    assert counts == {"done": sum(b > 1 for b in buckets), "failed": sum(b <= 1 for b in buckets)}
    reasons = [a.reason for a in store.attempts() if not a.ok]
    assert len(reasons) == 2 * sum(b <= 1 for b in buckets)  # every failed attempt with its reason
    store.close()


def test_parsl_executor_labels_with_a_local_provider(tmp_path):
    store = CampaignStore(sqlite_url(tmp_path / "c.db"))
    frames = li_frames(3)
    _queue(store, frames)
    config = ExecutorConfig(kind="parsl", workers=2, timeout_s=120, retries=0)
    counts = label_jobs(store, 1, {"kind": "tblite"}, config, tmp_path)
    assert counts == {"done": 3}
    labels = store.labelled_frames()
    assert {frame_key(a) for a in labels} == {frame_key(a) for a in frames}
    assert all(np.isfinite(a.arrays["forces"]).all() and a.info["oracle"] == "tblite/GFN1-xTB" for a in labels)
    store.close()


# -- committee training ----------------------------------------------------------------------------
def test_committee_trains_k_members_and_resumes_member_by_member(tmp_path, data_files):
    from mlip.config import validate
    from mlip.deploy import load_calculator
    from mlip.deploy.exporter import export
    from mlip.train.committee import train_committee
    from mlip.train.config import TrainConfig

    cfg = validate(TrainConfig, {"data": {"path": str(data_files[0]), "split": [0.8, 0.2, 0.0]}, "model": TINY_MODEL,
                                 "max_epochs": 2, "seed": 7, "wandb": {"enabled": False}, "device": "cpu",
                                 "out_dir": str(tmp_path / "c")}, "test")
    from mlip.config import dump_config

    dump_config(cfg, tmp_path / "train.yaml")
    proc = subprocess.run([*SEIMLIP, "train", str(tmp_path / "train.yaml"), "--committee", "2"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = [tmp_path / "c" / f"member_{i}" / "checkpoints" / "best.pt" for i in range(2)]
    assert all(p.is_file() for p in paths) and (tmp_path / "c" / "committee.yaml").is_file()
    seeds = [validate(TrainConfig, __import__("yaml").safe_load((p.parent.parent / "config.yaml").read_text()),
                      "x").seed for p in paths]
    assert seeds == [7, 8]
    with pytest.raises(UserError, match="already holds committee members"):
        train_committee(cfg, k=2)
    mtime = paths[0].stat().st_mtime
    assert train_committee(cfg, k=2, resume=True) == paths and paths[0].stat().st_mtime == mtime  # done: kept
    calc = load_calculator(export([str(p) for p in paths], tmp_path / "committee.pt"))
    atoms = read_frames(data_files[1])[0]
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["max_force_dev"] > 0 and calc.results["force_dev"].shape == (len(atoms),)


# -- campaigns -------------------------------------------------------------------------------------
def test_campaign_with_a_flaky_oracle_completes(tmp_path, data_files):
    """One iteration with an oracle that hangs or raises on some frames: the campaign completes,
    every failure is recorded with its reason, the labelled ones are trained on."""
    cfg = campaign_config(data_files, oracle={"kind": "python", "target": "campaign_oracles:HashFlakyOracle",
                                              "options": {"modulus": 3, "hang": [0], "fail": [1]}},
                          executor={"timeout_s": 5, "retries": 0}, convergence={"max_iterations": 1},
                          wandb={"enabled": True, "mode": "offline"})
    camp = init_campaign(cfg, tmp_path / "camp")
    summary = run_campaign(camp, progress=False)
    assert summary.stopped_by == "max_iterations" and summary.iterations == 1
    store = CampaignStore(sqlite_url(camp / "campaign.db"))
    jobs = store.jobs()
    store.close()
    assert jobs, "nothing was selected"
    failed = [j for j in jobs if j.status == "failed"]
    assert all(j.reason.startswith(("timeout", "crash: RuntimeError: flaky")) for j in failed)
    assert {j.status for j in jobs} <= {"done", "failed"}
    rows = campaign_status(camp)
    assert rows[1]["failed"] == len(failed) and rows[1]["labelled"] == len(jobs) - len(failed)
    assert rows[1]["labelled_total"] == 40 + len(jobs) - len(failed)
    assert (camp / "models" / "iter_001" / "committee.pt").is_file()
    assert list((camp / "wandb").glob("offline-run-*")), "no offline wandb run logged"
    proc = subprocess.run([*SEIMLIP, "al", "status", str(camp)], capture_output=True, text=True)
    assert proc.returncode == 0 and "oracle calls" in proc.stdout and "test F MAE" in proc.stdout, proc.stderr[-2000:]
    assert (camp / "plots" / "accuracy.png").stat().st_size > 1000 and (camp / "plots" / "test_error.png").is_file()
    # submit after training: a frame within the descriptor duplicate distance of another is dropped
    atoms = read_frames(data_files[1])[0]
    near = atoms.copy()
    near.positions[0] += [3e-5, 0, 0]  # a new content hash, the same learned descriptor (to 1e-3)
    assert frame_key(near) != frame_key(atoms)
    assert submit_frames(camp, [atoms, near], "md")[:2] == (1, 1)


def _db_state(db: Path) -> tuple[list[tuple], dict[str, int]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        phases = con.execute("SELECT iteration, phase FROM iterations ORDER BY iteration").fetchall()
        done = dict(con.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
    except sqlite3.OperationalError:
        return [], {}
    finally:
        con.close()
    return phases, done


def _run_until(camp: Path, condition, timeout: float = 600) -> bool:
    """Start `seimlip al run`, SIGKILL it as soon as ``condition(phases, counts)`` holds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([*SEIMLIP, "al", "run", str(camp), "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if condition(*_db_state(camp / "campaign.db"), camp):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.2)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _done_hashes(camp: Path) -> list[str]:
    store = CampaignStore(sqlite_url(camp / "campaign.db"))
    try:
        return [j.hash for j in store.jobs(jobs_t.c.status == "done")]
    finally:
        store.close()


@pytest.mark.slow
def test_gfn1_campaign_end_to_end_and_resume_after_sigkill(tmp_path, data_files):
    """A real GFN1-xTB campaign (Li(100)|EC, 28 atoms, committee of 2 tiny models) runs two
    iterations and its test error goes down; the same campaign SIGKILLed while labelling, while
    training and between iterations, then resumed, ends with exactly the same labelled frames."""
    cfg = campaign_config(data_files)
    reference = init_campaign(cfg, tmp_path / "reference")
    summary = run_campaign(reference, progress=False)
    rows = campaign_status(reference)
    assert summary.iterations == 2 and [r["phase"] for r in rows] == ["done"] * 3
    errors = [r["test_force_mae"] for r in rows]
    assert errors[2] < errors[0], errors
    assert summary.oracle_calls > 0 and rows[1]["selected"] > 0
    expected = _done_hashes(reference)

    camp = init_campaign(cfg, tmp_path / "killed")
    labelling = lambda phases, counts, c: phases and phases[-1] == (1, "label") and counts.get("done", 0) >= 1
    training = lambda phases, counts, c: (phases and phases[-1] == (1, "train")
                                          and (c / "models/iter_001/member_0/checkpoints/last.pt").exists())
    between = lambda phases, counts, c: len(phases) >= 3 and phases[1] == (1, "done")
    for condition in (labelling, training, between):
        assert _run_until(camp, condition), "the run ended before the kill point"
    summary = run_campaign(camp, progress=False)  # resume
    hashes = _done_hashes(camp)
    assert len(hashes) == len(set(hashes))  # no label duplicated
    assert sorted(hashes) == sorted(expected)  # none lost, same frames as the uninterrupted run
    assert summary.iterations == 2
    data = {frame_key(a) for a in read_frames(camp / "data" / "iter_002.extxyz")}
    assert data == {frame_key(a) for a in read_frames(reference / "data" / "iter_002.extxyz")}


@pytest.mark.slow
def test_lammps_exploration_reports_the_committee_deviation(tmp_path, data_files):
    """Exploring with LAMMPS (pair_style seimlip + compute seimlip/atom on a committee file) gives
    snapshots whose max force deviation is the ASE committee calculator's on the same positions."""
    from active_learning.campaign.config import ExplorationConfig
    from active_learning.campaign.explore import explore
    from mlip.config import validate
    from mlip.deploy import load_calculator
    from mlip.deploy.exporter import export
    from mlip.train.committee import train_committee
    from mlip.train.config import TrainConfig

    cfg = validate(TrainConfig, {"data": {"path": str(data_files[0]), "split": [0.8, 0.2, 0.0]}, "model": TINY_MODEL,
                                 "max_epochs": 1, "wandb": {"enabled": False}, "device": "cpu",
                                 "out_dir": str(tmp_path / "c")}, "test")
    model = export([str(p) for p in train_committee(cfg, k=2)], tmp_path / "committee.pt")
    exploration = ExplorationConfig(engine="lammps", steps=40, interval=10, systems=[
        {"name": "li", "temperatures": [400], "build": {"builder": "li_bulk", "repeat": [2, 2, 2]}}])
    frames = explore(model, exploration, seed=0, iteration=1, workdir=tmp_path / "lmp")
    assert len(frames) == 4
    calc = load_calculator(str(model))
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = calc
        probe.get_forces()
        assert calc.results["max_force_dev"] == pytest.approx(atoms.info["max_force_dev"], rel=1e-3, abs=1e-4)


def test_ase_exploration_runs_npt_for_systems_with_a_pressure(tmp_path):
    """A system with ``pressure_bar`` explores in isotropic NPT (its volume moves, its cell stays
    orthogonal and cubic), one without keeps the built cell (NVT)."""
    from active_learning.campaign.config import ExplorationConfig
    from active_learning.campaign.explore import explore
    from mlip.deploy.exporter import export

    from helpers import TwoHopPotential

    model = export([TwoHopPotential(), TwoHopPotential()], tmp_path / "toy_committee.pt")
    build = {"builder": "li_bulk", "repeat": [3, 3, 3]}
    exploration = ExplorationConfig(steps=60, interval=20, timestep_fs=1.0, pdamp_fs=100.0, systems=[
        {"name": "nvt", "temperatures": [300], "build": build},
        {"name": "npt", "temperatures": [300], "build": build, "pressure_bar": 50_000.0}])
    frames = explore(model, exploration, seed=0, iteration=1, workdir=tmp_path / "md")
    assert [a.info["config_type"] for a in frames] == ["nvt"] * 3 + ["npt"] * 3
    v0 = frames[0].info["_reference_volume"]
    assert all(a.get_volume() == pytest.approx(v0) for a in frames[:3])
    npt = [a.get_volume() for a in frames[3:]]
    assert abs(npt[-1] / v0 - 1) > 1e-3, npt  # the barostat moved the box
    for a in frames[3:]:
        assert a.cell.cellpar()[3:] == pytest.approx([90, 90, 90]) and np.ptp(a.cell.lengths()) < 1e-8
        assert np.isfinite(a.info["max_force_dev"])
