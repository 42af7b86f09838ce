#!/usr/bin/env python
"""Multi-rank LAMMPS scaling: the deep ghost shell (``graph ghosts``) vs the per-layer halo
exchange (``graph halo``), on 1 and 2 MPI ranks, on the Li(100)|EC interface.

One run (from the repository root, in the project's venv; OMP_NUM_THREADS=1 is set for LAMMPS)::

    python benchmarks/bench_lammps_scaling.py [--cells 8x8,8x16] [--ranks 1,2] [--steps 10] [--json out.json]

Cells: the 96-atom Li(100)|EC base (``li_interface(size=(3, 3), layers=4, n_solvent=6)``, 10.3 x
10.3 x ~16 Å) repeated laterally: 8x8 = 6,144 atoms (83 x 83 Å), 8x16 = 12,288 atoms. Model: the
shipped ``li-ec-gfn1`` (float32) re-exported with the halo methods (``--model`` for another
deployed file; a random ``small`` model when nothing is shipped).

Each case is one ``mpiexec -n R lmp`` NVE run: ``run 1`` (setup, warm-up), then a timed
``run STEPS``; atom-steps/s = atoms * steps / LAMMPS' loop time. On one rank the plugin's default
``graph images`` (periodic images of owned atoms, no ghost shell) is timed too: it is the one-rank
baseline of the speedups. The ghost atoms per rank are the plugin's own count of the ghost atoms
in the model's graph (``seimlip: graph ... per rank`` in the log) and LAMMPS' ghost count. The
machine's load average is printed with the results: on a shared machine the figures are lower
bounds. No assertion is made on the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def interface_cell(nx: int, ny: int):
    from md_runs.builders import li_interface, rattle

    base = rattle(li_interface(size=(3, 3), layers=4, n_solvent=6, seed=0), stdev=0.02, seed=0)
    return base.repeat((nx, ny, 1))


def model_file(path: Path, given: Path | None) -> Path:
    from mlip.deploy import export
    from mlip.deploy.format import read_metadata

    if given is not None:
        if not read_metadata(given).get("halo_exchange"):
            sys.exit(f"{given} has no halo methods: re-export it with `seimlip deploy`")
        return given
    from mlip.pretrained import available

    if "li-ec-gfn1" in available():
        from mlip.model.io import load_potential

        return export(load_potential("li-ec-gfn1"), path)
    import torch

    from mlip.model import ModelConfig, build_model

    torch.manual_seed(0)
    return export(build_model(ModelConfig.preset("small", dtype="float32"), ["H", "Li", "C", "O", "F", "P"]), path)


def run_case(atoms, model: Path, ranks: int, graph: str, steps: int, workdir: Path) -> dict:
    from md_runs.lammps import write_lammps_data
    from mlip.deploy.format import read_metadata
    from mlip.deploy.lammps_runtime import lmp_executable, mpiexec
    from mlip.deploy.plugin import lammps_plugin_path

    workdir.mkdir(parents=True, exist_ok=True)
    box, types = write_lammps_data(workdir / "cell.data", atoms, read_metadata(model)["species"], velocities=False)
    (workdir / "in.lammps").write_text("\n".join([
        "units metal", "atom_style atomic", "atom_modify map yes", f"boundary {box.boundary}", "newton on",
        f"plugin load {lammps_plugin_path()}", "read_data cell.data", f"pair_style seimlip {model} graph {graph}",
        f"pair_coeff * * {' '.join(types)}", "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
        "timestep 0.0005", "velocity all create 300 1 mom yes rot no", "fix nve all nve", "thermo 1000",
        "run 1", f"run {steps} pre no"]) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([mpiexec(), "-n", str(ranks), lmp_executable(), "-in", "in.lammps", "-log", "log.lammps",
                           "-nocite", "-screen", "none"], cwd=workdir, env=env, capture_output=True, text=True)
    log = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
    if proc.returncode != 0:
        raise RuntimeError(f"LAMMPS failed ({graph}, {ranks} ranks): {(proc.stdout + proc.stderr)[-1500:]}")
    timed = log[log.rindex("Loop time of"):]
    loop = re.match(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps with (\d+) atoms", timed)
    seconds, nsteps, natoms = float(loop.group(1)), int(loop.group(2)), int(loop.group(3))
    cpu = float(re.search(r"([0-9.]+)% CPU use", timed).group(1))
    graph_line = next(line for line in log.splitlines() if line.startswith("seimlip: graph") and "per rank" in line)
    numbers = re.search(r"per rank (\d+)-(\d+) owned atoms, (\d+)-(\d+) ghost atoms in the model's graph "
                        r"\(mean ([0-9.]+)\), (\d+)-(\d+) LAMMPS ghost atoms \(mean ([0-9.]+)\)", graph_line)
    return {"graph": graph, "ranks": ranks, "atoms": natoms, "steps": nsteps, "seconds": seconds,
            "seconds_per_step": seconds / nsteps, "atom_steps_per_s": natoms * nsteps / seconds,
            "cpu_use": cpu / 100.0, "atom_steps_per_cpu_share_s": natoms * nsteps / (seconds * cpu / 100.0),
            "owned_per_rank": [int(numbers.group(1)), int(numbers.group(2))],
            "model_ghosts_per_rank_mean": float(numbers.group(5)),
            "lammps_ghosts_per_rank_mean": float(numbers.group(8)), "log_line": graph_line}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="deployed model file with halo methods (default: shipped model)")
    parser.add_argument("--cells", default="8x8,8x16", help="lateral repeats of the 96-atom base cell")
    parser.add_argument("--ranks", default="1,2", help="MPI rank counts")
    parser.add_argument("--steps", type=int, default=10, help="timed MD steps per case")
    parser.add_argument("--graphs", default="images,ghosts,halo", help="graph modes to time (images: 1 rank only)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="keep each case's input and log.lammps here")
    args = parser.parse_args(argv)
    ranks = [int(r) for r in args.ranks.split(",")]
    graphs = args.graphs.split(",")
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        tmp = args.workdir or Path(tmp)
        model = model_file(tmp / "model.pt", args.model)
        for cell in args.cells.split(","):
            nx, ny = (int(v) for v in cell.split("x"))
            atoms = interface_cell(nx, ny)
            for r in ranks:
                for graph in [g for g in graphs if g != "images" or r == 1]:
                    row = run_case(atoms, model, r, graph, args.steps, tmp / f"{cell}-{graph}-{r}")
                    rows.append(row)
                    print(f"{row['atoms']:>7} atoms  {graph:>6} on {r} rank(s): {row['atom_steps_per_s']:>9.1f} atom-steps/s "
                          f"({row['seconds_per_step']:.2f} s/step, {100 * row['cpu_use']:.0f}% CPU use per rank), "
                          f"ghosts per rank in the model's graph "
                          f"{row['model_ghosts_per_rank_mean']:.0f}, LAMMPS ghosts {row['lammps_ghosts_per_rank_mean']:.0f}",
                          flush=True)
    load_after = os.getloadavg()
    print(f"\nload average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores\n")
    for key, title in (("atom_steps_per_s", "wall clock"),
                       ("atom_steps_per_cpu_share_s", "per CPU share (loop time x LAMMPS' % CPU use: the wall "
                                                      "time if each rank had a core of its own)")):
        print(f"{title}:")
        print("  atoms  ranks  graph    atom-steps/s  speedup vs 1 rank (same graph)  vs 1 rank images  ghosts/rank (model)")
        for row in rows:
            same = next((o for o in rows if o["atoms"] == row["atoms"] and o["ranks"] == 1 and o["graph"] == row["graph"]), None)
            best = next((o for o in rows if o["atoms"] == row["atoms"] and o["ranks"] == 1 and o["graph"] == "images"), None)
            s_same = row[key] / same[key] if same else float("nan")
            s_best = row[key] / best[key] if best else float("nan")
            print(f"{row['atoms']:>7} {row['ranks']:>6}  {row['graph']:<7} {row[key]:>13.1f} "
                  f"{s_same:>31.2f} {s_best:>17.2f} {row['model_ghosts_per_rank_mean']:>20.0f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "load_before": load_before, "load_after": load_after,
                                         "steps": args.steps, "model": str(args.model or "li-ec-gfn1")}, indent=1))


if __name__ == "__main__":
    main()
