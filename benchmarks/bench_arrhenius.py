#!/usr/bin/env python
"""Arrhenius Ea: seimlip's weighted least squares vs kinisi's Arrhenius MCMC, on the same data.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_arrhenius.py [--seeds 20] [--json out.json]

Synthetic D(T) = D0 exp(-Ea / kT), Ea = 0.5 eV, D0 = 1e-7 m²/s, at ``--temps`` (default 600,
700, 800, 900 K, as a short MD series would give), each point drawn lognormal with relative
error ``--noise`` (default 0.1 and 0.4: long and short runs) and reported with std = noise * D.
For every seed both estimators fit the same points (md_runs.analysis.arrhenius:
``arrhenius_fit``, ``kinisi_arrhenius_fit``). Printed per noise level: the mean bias of Ea, the
scatter (std of Ea over seeds), the mean reported std, the RMS of (Ea - exact) / reported std
(1 for honest error bars), the fraction of seeds whose +-1 sigma holds the exact Ea (0.68
expected), the mean |Ea_kinisi - Ea_wls| and the wall time per fit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EA_EV, D0, KB = 0.5, 1e-7, 8.617333262e-5


def points(seed: int, temps: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = D0 * np.exp(-EA_EV / (KB * temps)) * np.exp(rng.normal(0.0, noise, len(temps)))
    return d, noise * d


def summary(rows: list[dict]) -> dict[str, float]:
    ea = np.array([r["ea"] for r in rows])
    std = np.array([r["std"] for r in rows])
    z = (ea - EA_EV) / std
    return {"bias_eV": float(ea.mean() - EA_EV), "scatter_eV": float(ea.std(ddof=1)),
            "mean_reported_std_eV": float(std.mean()), "rms_z": float(np.sqrt((z ** 2).mean())),
            "coverage_1sigma": float((np.abs(z) <= 1).mean()), "seconds_per_fit": float(np.mean([r["s"] for r in rows]))}


def main() -> None:
    from md_runs.analysis.arrhenius import EV_PER_J_MOL, arrhenius_fit, kinisi_arrhenius_fit

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--temps", type=float, nargs="+", default=[600.0, 700.0, 800.0, 900.0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.1, 0.4])
    ap.add_argument("--samples", type=int, default=500, help="kinisi MCMC samples (AnalysisConfig.mcmc_samples)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    temps = np.array(args.temps)
    report = {}
    for noise in args.noise:
        rows: dict[str, list] = {"wls": [], "kinisi": []}
        for seed in range(args.seeds):
            d, s = points(seed, temps, noise)
            for name, fit in (("wls", lambda: arrhenius_fit(temps, d, s)),
                              ("kinisi", lambda: kinisi_arrhenius_fit(temps, d, s, samples=args.samples, seed=seed))):
                t0 = time.perf_counter()
                out = fit()
                rows[name].append({"ea": out["Ea_J_mol"] * EV_PER_J_MOL, "std": out["Ea_std_J_mol"] * EV_PER_J_MOL,
                                   "s": time.perf_counter() - t0})
        diff = np.mean([abs(a["ea"] - b["ea"]) for a, b in zip(rows["wls"], rows["kinisi"])])
        report[f"noise_{noise:g}"] = {name: summary(r) for name, r in rows.items()} | {"mean_abs_diff_eV": float(diff)}
        print(f"relative error {noise:g} ({args.seeds} seeds, T = {args.temps} K, Ea = {EA_EV} eV):")
        for name in ("wls", "kinisi"):
            m = report[f"noise_{noise:g}"][name]
            print(f"  {name:7s} bias {m['bias_eV']:+.4f} eV  scatter {m['scatter_eV']:.4f}  reported std "
                  f"{m['mean_reported_std_eV']:.4f}  RMS z {m['rms_z']:.2f}  coverage {m['coverage_1sigma']:.2f}  "
                  f"{m['seconds_per_fit']:.3g} s/fit")
        print(f"  mean |Ea_kinisi - Ea_wls| {diff:.4f} eV")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
