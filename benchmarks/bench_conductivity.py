#!/usr/bin/env python
"""Einstein-Helfand D_sigma: seimlip's block average vs kinisi's ConductivityAnalyzer, measured.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_conductivity.py [--walks 8] [--json out.json]

Ideal uncorrelated random walks (``--walkers`` Li-like walkers x ``--frames`` frames, 0.1 ps
apart, D = 0.5 Å²/ps = 5e-9 m²/s) have D_sigma = D* exactly. For each seeded walk both
estimators give D_sigma and its reported std (md_runs.analysis.diffusion.collective_diffusivity:
``eh_blocks`` time blocks, short lags, standard error of the block slopes;
``kinisi_collective_diffusivity``: Bayesian regression of the whole-run mean-squared charge
displacement). Printed: the mean relative bias, the RMS of (estimate - exact) / reported std
(1 for honest error bars), the fraction of walks whose +-1 sigma holds the exact value (0.68
expected), and the wall time per estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

D_TRUE_A2_PS = 0.5


def walk(seed: int, walkers: int, frames: int, interval: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    step = np.sqrt(2 * D_TRUE_A2_PS * interval)
    return np.concatenate([np.zeros((1, walkers, 3)), np.cumsum(rng.normal(0, step, (frames - 1, walkers, 3)), 0)])


def main() -> None:
    from md_runs.analysis.config import AnalysisConfig
    from md_runs.analysis.diffusion import collective_diffusivity, kinisi_collective_diffusivity

    ap = argparse.ArgumentParser()
    ap.add_argument("--walks", type=int, default=8)
    ap.add_argument("--walkers", type=int, default=64)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    exact = D_TRUE_A2_PS * 1e-8
    rows = {"blocks": [], "kinisi": []}
    for seed in range(args.walks):
        disp = walk(seed, args.walkers, args.frames, 0.1)
        for name, estimator in (("blocks", collective_diffusivity), ("kinisi", kinisi_collective_diffusivity)):
            started = time.perf_counter()
            q, _ = estimator(disp, 0.1, AnalysisConfig(seed=seed))
            rows[name].append({"seed": seed, "mean": q.mean, "std": q.std, "seconds": time.perf_counter() - started})
        print(f"walk {seed}: blocks {rows['blocks'][-1]['mean']:.3e} ± {rows['blocks'][-1]['std']:.1e}, "
              f"kinisi {rows['kinisi'][-1]['mean']:.3e} ± {rows['kinisi'][-1]['std']:.1e} (exact {exact:.1e})",
              flush=True)
    summary = {}
    for name, r in rows.items():
        mean, std = np.array([x["mean"] for x in r]), np.array([x["std"] for x in r])
        z = (mean - exact) / std
        summary[name] = {"bias": float(np.mean(mean / exact - 1)), "scatter": float(np.std(mean / exact, ddof=1)),
                         "rms_z": float(np.sqrt(np.mean(z ** 2))), "coverage_1sigma": float(np.mean(np.abs(z) <= 1)),
                         "median_reported_rel_std": float(np.median(std / mean)),
                         "seconds": float(np.median([x["seconds"] for x in r]))}
        s = summary[name]
        print(f"{name:7s} bias {100 * s['bias']:+.1f} %  scatter {100 * s['scatter']:.1f} %  reported rel. std "
              f"{100 * s['median_reported_rel_std']:.1f} %  RMS z {s['rms_z']:.2f}  within 1 sigma "
              f"{100 * s['coverage_1sigma']:.0f} %  {s['seconds']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows,
                                         "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
