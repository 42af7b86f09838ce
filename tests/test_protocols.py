"""MD protocols (seimlip md run): kill + resume, monitors, li_transport run dirs, config errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from md_runs.protocols import MONITOR_EXIT_CODE, MonitorStop, load_protocol, run_protocol
from md_runs.protocols.files import truncate_dump, truncate_extxyz
from md_runs.trajectory import find_runs, read_run, read_run_info, read_thermo_csv
from mlip.errors import UserError

from helpers import assert_continuous, lif_transport, small_model

SEIMLIP = [sys.executable, "-c", "from active_learning.cli import main; main()"]


def seimlip(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([*SEIMLIP, *args], capture_output=True, text=True, env=env, timeout=900, **kwargs)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_bad_protocol_yaml_is_one_line_exit_2(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", {"protocol": "sei_formation", "system": {"face": "111"}})
    proc = seimlip("md", "run", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "system.face" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    for data, message in [
        ({"protocol": "sei_formaton"}, "protocol: must be sei_formation or li_transport"),
        ({"protocol": "li_transport", "systems": [{"phase": "LiF", "structure": "x.xyz"}]}, "exactly one of phase"),
        ({"protocol": "li_transport", "systems": [{"phase": "LiF"}], "intervals": {"dump": 30, "restart": 100}},
         "multiple of dump"),
        ({"protocol": "sei_formation", "temperatures_K": [-5]}, "temperatures"),
        ({"protocol": "sei_formation", "steps": {"production": 10, "equilibrat": 3}}, "steps.equilibrat"),
    ]:
        with pytest.raises(UserError, match=message):
            load_protocol(data)


def test_shipped_example_configs_validate():
    from importlib.resources import files

    for name in ("sei_formation.yaml", "li_transport.yaml"):
        config, _ = load_protocol(Path(str(files("md_runs") / "configs" / name)))
        assert config.model == "li-ec-gfn1" and config.intervals.restart % config.intervals.dump == 0


def test_truncation_keeps_whole_frames_up_to_a_step(tmp_path):
    frame = "ITEM: TIMESTEP\n{}\nITEM: NUMBER OF ATOMS\n1\nITEM: ATOMS id type xu yu zu\n1 1 0 0 0\n"
    dump = tmp_path / "t.lammpstrj"
    dump.write_text("".join(frame.format(s) for s in (0, 10, 20, 30)) + "ITEM: TIMESTEP\n40\nITEM: NUM")
    assert truncate_dump(dump, 20) == 2
    assert dump.read_text() == "".join(frame.format(s) for s in (0, 10, 20))
    assert truncate_dump(dump, -1) == 3 and dump.read_text() == ""
    xyz = tmp_path / "t.extxyz"
    xyz.write_text("".join(f"1\nstep={s} pbc=\"F F F\"\nLi 0 0 0\n" for s in (0, 5, 10)) + "1\nstep=15\nLi 0")
    assert truncate_extxyz(xyz, 5) == 2
    assert xyz.read_text().count("step=") == 2


def test_sei_formation_killed_and_resumed_gives_one_continuous_trajectory(tmp_path):
    """LAMMPS, shipped model, ~160-atom Li(100)|1 M LiPF6 in EC: SIGKILL mid-production, resume."""
    config = write_config(tmp_path / "sei.yaml", {
        "protocol": "sei_formation", "model": "li-ec-gfn1", "engine": "lammps", "seed": 2,
        "temperatures_K": [400], "timestep_fs": 0.5,
        "system": {"face": "100", "size": [3, 3], "layers": 4, "n_solvent": 12, "molarity": 1.0},
        "steps": {"minimise": 20, "equilibrate": 20, "production": 240},
        "intervals": {"thermo": 10, "dump": 10, "restart": 60}})
    out = tmp_path / "out"
    run_dir = out / "li100_EC_T400"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([*SEIMLIP, "md", "run", str(config), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    killed_after = None
    while time.time() < deadline and proc.poll() is None:
        restarts = sorted((run_dir / "restart").glob("step_*.restart"))
        dump = run_dir / "trajectory.lammpstrj"
        if restarts and dump.exists():
            last = int(restarts[-1].stem.split("_")[1])
            steps = [int(s) for s in dump.read_text().split("ITEM: TIMESTEP\n")[1:] for s in [s.split()[0]]]
            if steps and steps[-1] > last:  # frames after the restart exist: kill mid-chunk
                proc.send_signal(signal.SIGKILL)
                killed_after = last
                break
        time.sleep(0.2)
    proc.wait(timeout=60)
    assert killed_after is not None, f"never saw a restart mid-production: {proc.stderr.read()}"
    assert proc.returncode == -signal.SIGKILL
    info = read_run_info(run_dir)
    assert info.provenance["status"] == "running" and killed_after <= info.steps_done < 240

    resumed = seimlip("md", "run", str(config), "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    run = read_run(run_dir)
    assert_continuous([f.info["timestep"] for f in run.frames], 10, 240 // 10 + 1)
    assert len({tuple(f.positions[0]) for f in run.frames}) == len(run.frames)  # no repeated frame
    assert run.info.steps_done == 240 and run.info.provenance["status"] == "finished"
    assert run.info.surface_normal == 2 and len(run.info.phases["slab"]) == 36
    assert_continuous(np.round(run.thermo["step"]), 10, 240 // 10 + 1)
    np.testing.assert_allclose(run.thermo["time_ps"], np.arange(25) * 10 * 0.5e-3)
    assert len(run.frames[0]) >= 150 and {"Li", "C", "O", "H", "P", "F"} <= set(run.frames[0].get_chemical_symbols())
    # Nose-Hoover state comes back from the binary restart: the conserved energy does not jump
    conserved = run.thermo["conserved_eV"]
    assert np.abs(np.diff(conserved)).max() / len(run.frames[0]) < 1e-3
    assert (run_dir / "equilibration" / "thermo.csv").exists() and (run_dir / "final.data").exists()
    # a third call finds the run finished and skips it
    logs = sorted((run_dir / "logs").glob("*.log"))
    assert run_protocol(config, out) == [run_dir]
    assert sorted((run_dir / "logs").glob("*.log")) == logs


def test_li_transport_two_temperatures_and_monitor_stop(tmp_path):
    """LAMMPS on 2x2x2 LiF: two run directories read back; then a too-strict contact monitor."""
    out = tmp_path / "transport"
    run_dirs = run_protocol(lif_transport(), out)
    assert [d.name for d in run_dirs] == ["LiF_T600", "LiF_T800"] and find_runs(out) == run_dirs
    for d, temperature in zip(run_dirs, (600, 800)):
        run = read_run(d)
        assert run.info.formula_unit == "LiF" and run.info.temperature_K == temperature
        assert len(run.frames) == 7 and all(len(f) == 64 for f in run.frames)
        np.testing.assert_allclose(run.times_ps, np.arange(7) * 0.01)
        eq = read_thermo_csv(d / "equilibration" / "thermo.csv")
        assert len(eq["volume_A3"]) == 5 and np.ptp(eq["volume_A3"]) > 0  # NPT: the volume moves
        assert abs(run.thermo["volume_A3"][0] - eq["volume_A3"][-1]) < 1e-6 * eq["volume_A3"][-1]
    assert (out / "protocol.yaml").exists() and "LiF_T800" in (out / "summary.md").read_text()
    assert (run_dirs[0] / "thermo.png").read_bytes()[:4] == b"\x89PNG"

    # Li-F is 2.0 Å in LiF: a 2.5 Å contact limit fires at the first check (step 5 of production)
    strict = lif_transport(temperatures_K=[600], steps={"minimise": 0, "equilibrate": 0, "production": 60},
                           monitors={"check_every": 5, "min_distance_A": 2.5})
    proc = seimlip("md", "run", str(write_config(tmp_path / "strict.yaml", strict)), "--out", str(tmp_path / "strict"))
    assert proc.returncode == MONITOR_EXIT_CODE, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "atoms closer than 2.5 Å" in lines[0] and "step 5" in lines[0], proc.stderr
    run_dir = tmp_path / "strict" / "LiF_T600"
    assert (run_dir / "restart" / "step_000000000005.restart").exists()
    from ase.io import read

    (candidate,) = read(run_dir / "candidates.extxyz", index=":")
    assert len(candidate) == 64 and candidate.info["monitor"] == "min_distance" and candidate.info["step"] == 5
    info = read_run_info(run_dir)
    assert info.provenance["status"] == "stopped" and info.steps_done == 5
    # with the limit relaxed the run continues from the stop's checkpoint, frames still continuous
    strict["monitors"]["min_distance_A"] = 0.5
    (run_dir,) = run_protocol(strict, tmp_path / "strict")
    run = read_run(run_dir)
    assert_continuous([f.info["timestep"] for f in run.frames], 10, 7)
    assert run.info.provenance["status"] == "finished" and run.info.steps_done == 60


def test_ase_engine_committee_monitor_and_extension(tmp_path):
    """ASE engine: a random 2-member committee trips the force-deviation monitor; a healthy run
    extended from 40 to 80 steps (with a half-written frame left behind) stays continuous."""

    from mlip.deploy import export

    committee = export([small_model(0), small_model(1)], tmp_path / "committee.pt")
    base = lif_transport(engine="ase", model=str(committee), temperatures_K=[300],
                         steps={"minimise": 0, "equilibrate": 0, "production": 40},
                         intervals={"thermo": 5, "dump": 10, "restart": 20},
                         monitors={"check_every": 5, "max_force_dev_eV_A": 1e-6, "min_distance_A": 0.5})
    with pytest.raises(MonitorStop, match="committee force deviation") as info:
        run_protocol(base, tmp_path / "strict")
    run_dir = info.value.run_dir
    assert info.value.step == 5 and info.value.checkpoint.exists()
    from ase.io import read

    (candidate,) = read(run_dir / "candidates.extxyz", index=":")
    assert candidate.info["monitor"] == "force_deviation" and candidate.info["step"] == 5
    assert candidate.arrays["force_dev"].max() > 1e-6

    relaxed = dict(base, monitors={"check_every": 5, "max_force_dev_eV_A": None})
    (run_dir,) = run_protocol(relaxed, tmp_path / "ok")
    with (run_dir / "trajectory.extxyz").open("a") as fh:
        fh.write("64\nstep=50 pbc=\"T T T\"\nLi 0.0 0.0")  # what a kill mid-write leaves
    longer = dict(relaxed, steps={"minimise": 0, "equilibrate": 0, "production": 80})
    (run_dir,) = run_protocol(longer, tmp_path / "ok")
    run = read_run(run_dir)
    assert_continuous([f.info["step"] for f in run.frames], 10, 9)
    assert_continuous(run.thermo["step"], 5, 17)
    assert run.info.engine == "ase" and run.info.steps_done == 80
    assert np.all(np.isfinite(run.thermo["max_force_dev_eV_A"]))
