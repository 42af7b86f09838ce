"""Shared by the model drivers (ours, MACE, NequIP): one protocol, one timing loop.

This file runs inside each driver's own virtualenv, so it needs only numpy, ase and torch.

Protocol: every driver subcommand prints exactly one line ``BENCH_RESULT {json}`` on stdout (and
writes the same JSON to ``--result`` when given); anything else it prints is log.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

MARKER = "BENCH_RESULT "


def add_common_args(parser) -> None:
    parser.add_argument("--result", type=Path, default=None, help="also write the JSON result here")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])


def add_speed_args(parser) -> None:
    parser.add_argument("--model", required=True, help="the trained model file the train step reported")
    parser.add_argument("--cells", type=Path, required=True, help="extxyz of the cells to time")
    parser.add_argument("--warmup", type=int, default=5, help="untimed evaluations per cell")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per cell (median reported)")
    parser.add_argument("--min-repeat-s", type=float, default=2.0,
                        help="each repeat runs enough evaluations to last at least this long")
    parser.add_argument("--max-steps", type=int, default=1000, help="cap on evaluations per repeat")


def add_predict_args(parser) -> None:
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, required=True, help="frames to predict (extxyz)")
    parser.add_argument("--out", type=Path, required=True, help="npz with energy, forces, n_atoms")


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (a library did parallel work first)
        pass


def emit(result: dict, path: Path | None = None) -> None:
    text = json.dumps(result, default=_plain)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    sys.stdout.flush()
    print(MARKER + text, flush=True)


def _plain(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def read_frames(path) -> list:
    from ase.io import read

    return list(read(str(path), index=":"))


def versions(*names: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for n in ("torch", "e3nn", "ase", *names):
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


def predict_frames(calc, frames) -> dict:
    """Energy and forces of ``calc`` on each frame (a copy, labels stripped)."""
    energies, forces, n_atoms = [], [], []
    for atoms in frames:
        a = atoms.copy()
        a.calc = calc
        f = np.asarray(a.get_forces(), dtype=np.float64)
        energies.append(float(a.get_potential_energy()))
        forces.append(f)
        n_atoms.append(len(a))
    return {"energy": np.array(energies), "forces": np.concatenate(forces) if forces else np.zeros((0, 3)),
            "n_atoms": np.array(n_atoms, dtype=np.int64)}


def run_predict(calc, args) -> dict:
    frames = read_frames(args.data)
    t0 = time.perf_counter()
    pred = predict_frames(calc, frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **pred)
    return {"predictions": str(args.out), "n_frames": len(frames), "seconds": time.perf_counter() - t0}


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def measure_throughput(calc, cells, warmup: int = 5, repeats: int = 5, min_repeat_s: float = 2.0,
                       max_steps: int = 1000, device: str = "cpu", seed: int = 0) -> list[dict]:
    """Energy+force evaluations per second on each cell, through the model's ASE calculator.

    Each evaluation moves every atom by a fresh random displacement (0.01 Å r.m.s., fixed seed,
    identical for every model) so no calculator can serve a cached result; the neighbour list is
    rebuilt by the calculator as in MD. ``warmup`` evaluations are not timed; then ``repeats``
    timed runs of ``steps`` evaluations each (``steps`` chosen from the warm-up so a run lasts at
    least ``min_repeat_s``); the figure is the median run's atoms * steps / seconds.
    """
    out = []
    for k, cell in enumerate(cells):
        atoms = cell.copy()
        atoms.calc = calc
        n = len(atoms)
        base = atoms.get_positions()
        rng = np.random.default_rng(seed + k)
        pool = rng.normal(scale=0.01 / np.sqrt(3), size=(64, n, 3))
        counter = [0]

        def evaluate():
            atoms.set_positions(base + pool[counter[0] % len(pool)])
            counter[0] += 1
            f = atoms.get_forces()
            e = atoms.get_potential_energy()
            _sync(device)
            return e, f

        t0 = time.perf_counter()
        warm_times = []
        for _ in range(max(warmup, 1)):
            t = time.perf_counter()
            e, f = evaluate()
            warm_times.append(time.perf_counter() - t)
        if not (np.isfinite(e) and np.isfinite(f).all()):
            raise RuntimeError(f"non-finite energy/forces on cell {k} ({n} atoms)")
        per_eval = min(warm_times[-2:]) if len(warm_times) > 1 else warm_times[-1]
        steps = int(min(max_steps, max(1, np.ceil(min_repeat_s / max(per_eval, 1e-6)))))
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(steps):
                evaluate()
            runs.append(time.perf_counter() - t)
        med = statistics.median(runs)
        out.append({
            "n_atoms": n, "formula": cell.get_chemical_formula(), "steps_per_repeat": steps,
            "repeats": repeats, "warmup": warmup, "warmup_s": sum(warm_times),
            "seconds_per_repeat": runs, "median_s": med,
            "atom_steps_per_s": n * steps / med,
            "atom_steps_per_s_min_max": [n * steps / max(runs), n * steps / min(runs)],
            "ms_per_step": 1e3 * med / steps, "total_s": time.perf_counter() - t0,
        })
        print(f"[speed] {n} atoms: {n * steps / med:,.0f} atom-steps/s ({1e3 * med / steps:.1f} ms/step, "
              f"{steps} steps x {repeats})", file=sys.stderr, flush=True)
    return out


def run_speed(calc, args) -> dict:
    cells = read_frames(args.cells)
    for c in cells:  # labels of the cell file (if any) must not be served as results
        c.calc = None
    results = measure_throughput(calc, cells, args.warmup, args.repeats, args.min_repeat_s, args.max_steps,
                                 args.device)
    return {"cells": results, "threads": args.threads, "device": args.device}


def least_squares_e0s(frames, species: list[str]) -> dict[str, float]:
    """Per-element reference energies by least squares of total energy on composition
    (the same fit as MACE's ``--E0s average`` and seimlip's ``least_squares``)."""
    counts = np.array([[sum(1 for s in a.get_chemical_symbols() if s == el) for el in species] for a in frames],
                      dtype=float)
    energies = np.array([frame_energy(a) for a in frames])
    coef, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {el: float(c) for el, c in zip(species, coef)}


def frame_energy(atoms) -> float:
    if "energy" in atoms.info:
        return float(atoms.info["energy"])
    if "REF_energy" in atoms.info:
        return float(atoms.info["REF_energy"])
    return float(atoms.get_potential_energy())


class TrainClock:
    """The training budget, counted as seimlip's ``max_time_minutes`` counts it: wall-clock of the
    epoch loop from the first training step on, validation passes included; data preparation,
    statistics, model construction and the final evaluation are outside it. Checked after every
    optimiser step; once spent, the current epoch ends, is validated, and training stops."""

    def __init__(self, minutes: float):
        self.budget = 60.0 * float(minutes)
        self.spent = 0.0
        self._t0 = None

    def start(self) -> None:
        """Called at every epoch start; only the first call starts the clock."""
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def tick(self) -> float:
        if self._t0 is not None:
            self.spent = time.perf_counter() - self._t0
        return self.spent

    @property
    def exhausted(self) -> bool:
        return self.tick() >= self.budget
