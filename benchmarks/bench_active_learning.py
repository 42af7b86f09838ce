#!/usr/bin/env python
"""Active learning vs random selection from the same exploration pool, at equal oracle budgets.

One run (from the repository root, in the project's venv)::

    OMP_NUM_THREADS=1 python benchmarks/bench_active_learning.py [--out bench_al] [--rounds 5] [--budget 12]

1. A committee (K tiny members) is trained on a small initial set (every 40th GFN1-xTB training frame
   of datasets/li_ec_gfn1).
2. Exploration pool: committee MD (ASE Langevin, the campaign's explore step) on Li(100)|EC
   interfaces (28 and 38 atoms) and a Li bulk cell at several temperatures; every snapshot is
   labelled ONCE with GFN1-xTB (``label_frames``, cached in OUT/pool.extxyz with its resume store,
   so a rerun calls no oracle). A seeded 25 % of the pool is the held-out test set.
3. Both strategies start from the same committee and pick ``--budget`` frames per round from the
   rest of the pool, fine-tune the committee on everything picked so far, and report the force
   MAE on the held-out set after each round:
   - active learning: frames between the trust levels of the committee's max force deviation,
     farthest-point sampling on learned descriptors (the campaign's selection);
   - random: a seeded uniform draw.
4. Printed: force MAE against oracle calls for both, and for each active-learning point the
   oracle calls random selection needs to reach the same error (linear interpolation between its
   rounds; ">" when it never does within its budget) and their ratio. Every round's committee
   is cached in OUT, so a rerun only re-evaluates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

TINY = {"preset": "small", "channels": 16, "sh_lmax": 2, "l_max": 1, "n_interactions": 2, "correlation": 2,
        "radial_hidden": 16, "readout_hidden": 0}
SYSTEMS = [
    {"name": "interface_28", "temperatures": [400, 700],
     "build": {"builder": "interface", "face": "100", "size": [2, 2], "layers": 2, "n_solvent": 2,
               "solvent": {"EC": 1.0}, "molarity": 0.0, "gap": 2.0}},
    {"name": "interface_38", "temperatures": [500],
     "build": {"builder": "interface", "face": "100", "size": [2, 2], "layers": 2, "n_solvent": 3,
               "solvent": {"EC": 1.0}, "molarity": 0.0, "gap": 2.0}},
    {"name": "li_bulk", "temperatures": [600], "build": {"builder": "li_bulk", "repeat": [2, 2, 2]}},
]


def train(frames, out: Path, epochs: int, k: int, seed: int, init_from=None) -> Path:
    from mlip.config import validate
    from mlip.data.readers import write_frames
    from mlip.deploy.exporter import export
    from mlip.train.committee import train_committee
    from mlip.train.config import TrainConfig

    out.mkdir(parents=True, exist_ok=True)
    if (out / "committee.pt").is_file():
        return out / "committee.pt"
    write_frames(out / "data.extxyz", frames)
    cfg = validate(TrainConfig, {"data": {"path": str(out / "data.extxyz"), "split": [0.9, 0.1, 0.0], "split_seed": 0},
                                 "model": TINY, "max_epochs": epochs, "seed": seed, "patience": None, "device": "cpu",
                                 "wandb": {"enabled": False}, "out_dir": str(out)}, "benchmark")
    ckpts = train_committee(cfg, k, out, resume=True, init_from=init_from)
    return Path(export([str(c) for c in ckpts], out / "committee.pt"))


def members(out: Path, k: int) -> list[str]:
    from mlip.train.committee import best_checkpoint

    return [str(best_checkpoint(out / f"member_{i}")) for i in range(k)]


def force_mae(model: Path, frames) -> float:
    from mlip.deploy import load_calculator
    from mlip.evaluate import evaluate_model

    metrics, _ = evaluate_model(load_calculator(str(model), device="cpu"), frames)
    return float(metrics["force_mae"])


def committee_deviation(model: Path, frames) -> np.ndarray:
    from mlip.deploy import load_calculator

    calc = load_calculator(str(model), device="cpu")
    out = []
    for atoms in frames:
        a = atoms.copy()
        a.calc = calc
        a.get_forces()
        out.append(calc.results["max_force_dev"])
    return np.array(out)


def build_pool(model: Path, out: Path, steps: int, interval: int, workers: int):
    from active_learning.campaign.config import ExplorationConfig
    from active_learning.campaign.explore import explore
    from active_learning.campaign.selection import unphysical_reason
    from active_learning.reference_data.label import label_frames
    from mlip.data.readers import read_frames, write_frames

    pool_path = out / "pool.extxyz"
    if pool_path.is_file():
        return read_frames(pool_path)
    raw_path = out / "pool_unlabelled.extxyz"
    if raw_path.is_file():
        raw = read_frames(raw_path)
    else:
        cfg = ExplorationConfig(engine="ase", systems=SYSTEMS, steps=steps, timestep_fs=1.0, interval=interval)
        raw = [a for a in explore(model, cfg, seed=0, iteration=1, workdir=out / "explore") if not unphysical_reason(a)]
        for a in raw:
            a.info.pop("max_force_dev", None)
            a.info.pop("_campaign_source", None)
        write_frames(raw_path, raw)
    summary = label_frames(raw, None, pool_path, workers=workers, timeout=300, progress=True)
    print(f"pool: {summary.written} labelled of {summary.total} explored frames "
          f"({summary.oracle_calls} oracle calls this run, {summary.failed} failed)", flush=True)
    return read_frames(pool_path)


def select_active(model: Path, pool, taken: set[int], budget: int, lo: float, hi: float, seed: int) -> list[int]:
    from active_learning.campaign.selection import farthest_point_sampling
    from mlip.model.descriptors import frame_descriptors
    from mlip.train.checkpoint import load_model

    free = [i for i in range(len(pool)) if i not in taken]
    dev = committee_deviation(model, [pool[i] for i in free])
    cand = [i for i, d in zip(free, dev) if lo <= d <= hi]
    if len(cand) < budget:  # not enough candidates: the most uncertain of the rest below hi
        rest = [i for i, d in sorted(zip(free, dev), key=lambda t: -t[1]) if i not in cand and t_ok(d, hi)]
        cand += rest[:budget - len(cand)]
    member0 = load_model(members(Path(model).parent, 1)[0])
    desc = frame_descriptors(member0, [pool[i] for i in cand])
    labelled = frame_descriptors(member0, [pool[i] for i in sorted(taken)]) if taken else None
    picked, _ = farthest_point_sampling(desc, budget, labelled, 0.0, seed=seed)
    return [cand[k] for k in picked]


def t_ok(d: float, hi: float) -> bool:
    return bool(np.isfinite(d) and d <= hi)


def calls_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    for (c0, e0), (c1, e1) in zip(curve, curve[1:]):
        if e1 <= target:
            return c1 if e0 == e1 else c0 + (c1 - c0) * (e0 - target) / (e0 - e1)
    return curve[0][0] if curve and curve[0][1] <= target else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench_al"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=12, help="oracle calls per round")
    ap.add_argument("--k", type=int, default=2, help="committee size")
    ap.add_argument("--initial-epochs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=8, help="fine-tuning epochs per round")
    ap.add_argument("--md-steps", type=int, default=500)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--trust-lo", type=float, default=0.1)
    ap.add_argument("--trust-hi", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from test_campaign import every_nth_frame

    from mlip.data.readers import read_frames

    t0 = time.perf_counter()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    initial = read_frames(every_nth_frame(ROOT / "datasets/li_ec_gfn1/train.extxyz.gz", 40, 30, out / "initial.extxyz"))
    model0 = train(initial, out / "initial", args.initial_epochs, args.k, seed=0)
    pool = build_pool(model0, out, args.md_steps, args.interval, args.workers)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pool))
    n_test = len(pool) // 4
    test = [pool[i] for i in order[:n_test]]
    pool = [pool[i] for i in order[n_test:]]
    print(f"pool {len(pool)} frames, held-out test {len(test)} frames", flush=True)
    e0 = force_mae(model0, test)
    curves = {"active": [(0, e0)], "random": [(0, e0)]}
    for strategy in ("active", "random"):
        taken: set[int] = set()
        model, prev = model0, out / "initial"
        for r in range(1, args.rounds + 1):
            if strategy == "active":
                picks = select_active(model, pool, taken, args.budget, args.trust_lo, args.trust_hi, seed=r)
            else:
                free = [i for i in range(len(pool)) if i not in taken]
                picks = [int(i) for i in np.random.default_rng(100 + r).choice(free, args.budget, replace=False)]
            taken.update(picks)
            run = out / strategy / f"round_{r}"
            model = train(initial + [pool[i] for i in sorted(taken)], run, args.epochs, args.k, seed=r,
                          init_from=members(prev, args.k))
            prev = run
            curves[strategy].append((len(taken), force_mae(model, test)))
            print(f"{strategy:>6} round {r}: {len(taken):3d} oracle calls, test force MAE "
                  f"{1000 * curves[strategy][-1][1]:.1f} meV/Å", flush=True)
    print("\noracle calls | force MAE active (meV/Å) | force MAE random (meV/Å)")
    for (c, ea), (_, er) in zip(curves["active"], curves["random"]):
        print(f"{c:12d} | {1000 * ea:24.1f} | {1000 * er:24.1f}")
    print("\nactive-learning error after N calls | calls random needs for it | ratio")
    ratios = []
    for calls, err in curves["active"][1:]:
        need = calls_to_reach(curves["random"], err)
        if need is None:
            print(f"{1000 * err:8.1f} meV/Å after {calls:3d} | not reached in {curves['random'][-1][0]:3d} | "
                  f">{curves['random'][-1][0] / calls:.2f}")
        else:
            ratios.append(need / calls)
            print(f"{1000 * err:8.1f} meV/Å after {calls:3d} | {need:5.1f} | {need / calls:.2f}")
    ratio = f"{max(ratios):.2f}" if ratios else "n/a"
    print(f"\nratio of oracle calls random/active for the same error: "
          f"{', '.join(f'{r:.2f}' for r in ratios) or 'n/a'} (best {ratio}; target 3x)")
    print(f"wall time {(time.perf_counter() - t0) / 60:.1f} min, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    if args.json:
        args.json.write_text(json.dumps({"curves": curves, "ratio": ratio, "pool": len(pool), "test": len(test)},
                                        indent=1))


if __name__ == "__main__":
    main()
