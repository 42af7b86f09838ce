#!/usr/bin/env python
"""Cost of uncertainty: a shallow ensemble of K readout heads vs one head vs a K-model committee.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_uncertainty.py [--heads 4] [--repeats 15] [--json out.json]

Models: the shipped ``li-ec-gfn1`` (small preset, one head), the same backbone with K heads
(``mlip.model.heads.with_readout_heads``), and a committee of K copies; all exported to the
deployed TorchScript module the ASE calculator and LAMMPS run. Cells: a 48-atom test frame of
``datasets/li_ec_gfn1`` and its 2x2x2 repeat (384 atoms).

Timed: one deployed ``forward`` (energy + forces + virial, and the uncertainty outputs: heads'
energy std and per-atom energy std; committee: force deviations) on a precomputed graph, the
interpreter mode the calculator uses. Also timed, for reference: the exact per-head force std
(K autograd passes through the eager model), which is why it is not the deployed default.
Variants are interleaved round-robin; the median of ``--repeats`` is taken in wall-clock and in
process CPU time, and the fastest CPU time (the least disturbed run on a shared machine). The
ratios printed are K heads / 1 head.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _graph_inputs(atoms, species, cutoff, dtype):
    import numpy as np
    import torch

    from mlip.deploy.calculator import _neighbour_list

    i, j, shifts = _neighbour_list(atoms.positions, atoms.cell.array, np.asarray(atoms.pbc), cutoff)
    vec = atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array
    index = {s: k for k, s in enumerate(species)}
    z = torch.as_tensor([index[s] for s in atoms.get_chemical_symbols()])
    return z, torch.as_tensor(np.stack([i, j])), torch.as_tensor(vec, dtype=dtype)


def _timed(fn, repeats_out: dict, name: str) -> None:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    repeats_out.setdefault(name, []).append((time.perf_counter() - w0, time.process_time() - c0))


def exact_head_force_std(model, z, index, vec):
    """Per-atom std over heads of the heads' forces: K backward passes (reference cost)."""
    import torch

    v = vec.detach().requires_grad_(True)
    heads = model(z, index, v)
    totals = heads.sum(0)
    forces = []
    for k in range(heads.shape[1]):
        (g,) = torch.autograd.grad(totals[k], v, retain_graph=k < heads.shape[1] - 1)
        f = torch.zeros(z.shape[0], 3, dtype=g.dtype).index_add(0, index[0], g).index_add(0, index[1], -g)
        forces.append(f)
    f = torch.stack(forces)
    return (f - f.mean(0)).square().sum(2).mean(0).sqrt()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from mlip.data.readers import read_frames
    from mlip.deploy.exporter import build_deployed
    from mlip.model.io import load_potential as potential_from_deployed
    from mlip.model.heads import with_readout_heads

    single = potential_from_deployed("li-ec-gfn1")
    shallow = with_readout_heads(single, args.heads).eval()
    modules = {
        "1 head": build_deployed(single)[0],
        f"{args.heads} heads": build_deployed(shallow)[0],
        f"committee of {args.heads}": build_deployed([single] * args.heads)[0],
    }
    frame = read_frames(ROOT / "datasets/li_ec_gfn1/test.extxyz.gz")[0]
    cells = {f"{len(frame)} atoms": frame, f"{len(frame) * 8} atoms": frame.repeat((2, 2, 2))}
    results = {}
    for cell_name, atoms in cells.items():
        z, index, vec = _graph_inputs(atoms, single.species, single.cutoff, torch.float32)
        n = len(atoms)
        calls = {name: (lambda m=m: m(z, index, vec, n)) for name, m in modules.items()}
        calls[f"exact {args.heads}-head force std (eager)"] = lambda: exact_head_force_std(shallow, z, index, vec)
        times: dict = {}
        with torch.jit.optimized_execution(False):
            for fn in calls.values():  # warm-up
                fn()
            for _ in range(args.repeats):
                for name, fn in calls.items():
                    _timed(fn, times, name)
        med = {name: {"wall_ms": 1e3 * statistics.median(t[0] for t in ts),
                      "cpu_ms": 1e3 * statistics.median(t[1] for t in ts),
                      "cpu_min_ms": 1e3 * min(t[1] for t in ts)} for name, ts in times.items()}
        base = med["1 head"]
        for name, m in med.items():
            m["ratio_wall"] = m["wall_ms"] / base["wall_ms"]
            m["ratio_cpu"] = m["cpu_ms"] / base["cpu_ms"]
            m["ratio_cpu_min"] = m["cpu_min_ms"] / base["cpu_min_ms"]
        results[cell_name] = med
        print(f"\n{cell_name} (median and fastest of {args.repeats}, torch threads {args.threads})")
        print(f"{'variant':40s} {'wall ms':>8s} {'cpu ms':>8s} {'min cpu':>8s} {'ratio wall':>11s} "
              f"{'ratio cpu':>10s} {'ratio min':>10s}")
        for name, m in med.items():
            print(f"{name:40s} {m['wall_ms']:8.2f} {m['cpu_ms']:8.2f} {m['cpu_min_ms']:8.2f} {m['ratio_wall']:11.3f} "
                  f"{m['ratio_cpu']:10.3f} {m['ratio_cpu_min']:10.3f}")
    key = f"{args.heads} heads"
    print(f"\nshallow ensemble ({args.heads} heads) / single head, energy+forces+uncertainty, CPU time: "
          + "; ".join(f"{cell}: median {r[key]['ratio_cpu']:.3f}, fastest {r[key]['ratio_cpu_min']:.3f}"
                      for cell, r in results.items()))
    out = {"heads": args.heads, "repeats": args.repeats, "threads": args.threads, "torch": torch.__version__,
           "results": results}
    if args.json:
        from mlip.utils import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
