#!/usr/bin/env python
"""LAMMPS + seimlip plugin vs the ASE calculator: atom-steps per second for the same model and cells.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_lammps.py [--model model.pt] [--dtype float32] [--json out.json]

Cells: a ~100-atom periodic Li(100)|EC interface (md_runs.builders.li_interface, 6.9 x 6.9 x ~30 Å)
and its 4x4x1 and 8x8x2 repeats (16x and 128x: 1,600 and 12,800 atoms for a 100-atom base; near-cubic
boxes). Without ``--model`` a
``small``-preset potential with random weights is exported (speed does not depend on training).

- ASE: ``SeimlipCalculator`` energy+forces calls on the cell (vesin neighbour list included),
  one warm-up call, then the median of repeats; atom-steps/s = atoms / seconds per call. This is
  only the force call: an ASE MD step adds the integrator on top, so the ratio favours ASE.
- LAMMPS: NVE MD (``fix nve``, neighbour lists, ghost exchange, the plugin) in the Python module
  on one MPI rank (the plugin's default one-rank graph: periodic images of owned atoms, as ASE;
  ``--graph ghosts`` times the multi-rank construction instead); ``run 1`` warm-up, then a timed
  ``run N``; atom-steps/s = atoms * N / seconds.

Both use the same torch thread count (``--threads``, default 1). Every figure is measured here;
the ratios printed are LAMMPS / ASE, per wall-clock second and per CPU-second of the process (the
latter is steadier on a machine shared with other jobs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def base_cell(seed: int = 0):
    """~100 atoms: Li(100) slab (2x2, 5 layers = 20 Li) under 8 EC molecules (80 atoms)."""
    from md_runs.builders import li_interface, rattle

    return rattle(li_interface(size=(2, 2), layers=5, n_solvent=8, seed=seed), stdev=0.02, seed=seed)


def default_model(path: Path, dtype: str) -> Path:
    import torch

    from mlip.deploy import export
    from mlip.model import ModelConfig, build_model

    torch.manual_seed(0)
    config = ModelConfig.preset("small", dtype=dtype)
    model = build_model(config, ["H", "Li", "C", "O", "F", "P"])
    return export(model, path)


def time_ase(atoms, model: Path, budget_s: float) -> dict:
    from mlip.deploy import load_calculator

    calc = load_calculator(model, device="cpu")
    calc.calculate(atoms, ["energy", "forces"])  # warm-up
    times, cpu = [], []
    start = time.perf_counter()
    while not times or (time.perf_counter() - start < budget_s and len(times) < 20):
        atoms.positions[0, 0] += 1e-4  # a new configuration each call
        t, c = time.perf_counter(), time.process_time()
        calc.calculate(atoms, ["energy", "forces"])
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    sec, cpu_sec = statistics.median(times), statistics.median(cpu)
    return {"seconds_per_step": sec, "atom_steps_per_s": len(atoms) / sec, "cpu_seconds_per_step": cpu_sec,
            "atom_steps_per_cpu_s": len(atoms) / cpu_sec, "repeats": len(times)}


def time_lammps(atoms, model: Path, budget_s: float, workdir: Path, graph: str = "auto") -> dict:
    from md_runs.lammps import write_lammps_data
    from mlip.deploy.format import read_metadata
    from mlip.deploy.lammps_runtime import new_lammps

    species = read_metadata(model)["species"]
    box, types = write_lammps_data(workdir / "cell.data", atoms, species, velocities=False)
    lmp = new_lammps(log=workdir / "log.lammps")
    try:
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map yes", f"boundary {box.boundary}",
            f"read_data {workdir / 'cell.data'}", f"pair_style seimlip {model} graph {graph}",
            f"pair_coeff * * {' '.join(types)}", "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            "timestep 0.0005", "velocity all create 300 1 mom yes rot no", "fix nve all nve",
            "thermo 1000",
        ])
        t = time.perf_counter()
        lmp.command("run 1")  # setup + first step: warm-up
        first = time.perf_counter() - t
        steps = max(1, min(200, int(budget_s / max(first, 1e-3))))
        t, c = time.perf_counter(), time.process_time()
        lmp.command(f"run {steps} pre no post no")
        sec = (time.perf_counter() - t) / steps
        cpu_sec = (time.process_time() - c) / steps
        nghost = lmp.extract_global("nghost")
    finally:
        lmp.close()
    return {"seconds_per_step": sec, "atom_steps_per_s": len(atoms) / sec, "cpu_seconds_per_step": cpu_sec,
            "atom_steps_per_cpu_s": len(atoms) / cpu_sec, "steps": steps, "ghosts": int(nghost)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="deployed model file (default: small preset, random weights)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="for the default model")
    parser.add_argument("--repeats", default="1,16,128", help="cell multiples of the ~100-atom base (1, 4x4x1, 8x8x2)")
    parser.add_argument("--budget-s", type=float, default=20.0, help="timing budget per engine and cell")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both engines)")
    parser.add_argument("--graph", default="auto", choices=["auto", "images", "ghosts"], help="plugin graph mode")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    reps = {1: (1, 1, 1), 16: (4, 4, 1), 128: (8, 8, 2)}
    multiples = [int(m) for m in args.repeats.split(",")]
    base = base_cell()
    with tempfile.TemporaryDirectory(prefix="bench-lammps-") as tmp:
        tmp = Path(tmp)
        model = args.model or default_model(tmp / "model.pt", args.dtype)
        from mlip.deploy import lammps_plugin_path

        t = time.perf_counter()
        plugin = lammps_plugin_path()
        build_s = time.perf_counter() - t
        rows = []
        for m in multiples:
            atoms = base.repeat(reps.get(m, (m, 1, 1)))
            ase = time_ase(atoms.copy(), model, args.budget_s)
            lmp = time_lammps(atoms.copy(), model, args.budget_s, tmp, args.graph)
            row = {"atoms": len(atoms), "ase": ase, "lammps": lmp,
                   "ratio_lammps_over_ase": lmp["atom_steps_per_s"] / ase["atom_steps_per_s"],
                   "ratio_lammps_over_ase_cpu": lmp["atom_steps_per_cpu_s"] / ase["atom_steps_per_cpu_s"]}
            rows.append(row)
            print(f"{len(atoms):>7} atoms  ASE {ase['atom_steps_per_s']:>10.1f} atom-steps/s   "
                  f"LAMMPS {lmp['atom_steps_per_s']:>10.1f} atom-steps/s ({lmp['ghosts']} ghosts)   "
                  f"LAMMPS/ASE {row['ratio_lammps_over_ase']:.2f} (CPU time: {row['ratio_lammps_over_ase_cpu']:.2f})",
                  flush=True)

    result = {"rows": rows, "threads": args.threads, "graph": args.graph, "dtype": args.dtype if not args.model else "model's",
              "plugin": str(plugin), "plugin_lookup_or_build_s": build_s,
              "host": platform.node(), "python": platform.python_version(), "torch": torch.__version__}
    print(f"\nwall clock (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores) "
          "and per CPU-second of this process:")
    print("  atoms   ASE atom-steps/s   LAMMPS atom-steps/s   LAMMPS/ASE   ASE /cpu-s   LAMMPS /cpu-s   LAMMPS/ASE (cpu)")
    for r in rows:
        a, b = r["ase"], r["lammps"]
        print(f"{r['atoms']:>7} {a['atom_steps_per_s']:>18.1f} {b['atom_steps_per_s']:>21.1f} "
              f"{r['ratio_lammps_over_ase']:>12.2f} {a['atom_steps_per_cpu_s']:>12.1f} {b['atom_steps_per_cpu_s']:>15.1f} "
              f"{r['ratio_lammps_over_ase_cpu']:>18.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
