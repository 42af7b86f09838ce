#!/usr/bin/env python
"""seimlip vs MACE vs NequIP: accuracy after the same training budget, and MD-step throughput.

One run (from the repository root, in the project's venv)::

    python benchmarks/bench_models.py --budget-min 20 --json runs/bench_models/results.json

1. creates or reuses a virtualenv per peer outside the repository (mace-torch, nequip);
2. trains seimlip (``seimlip train``), MACE (``mace_run_train``) and NequIP (``nequip-train``) on
   the same train/val split, each for the same training-time budget, float32, energy/force loss
   weights 1:10 (per-atom energy MSE, force-component MSE);
3. evaluates each on the same test split (energy MAE per atom, force MAE), computed here by one
   function from the predictions each model's ASE calculator returns;
4. times energy+force evaluations through each model's ASE calculator on ~100-, 400- and
   1,600-atom Li(100)|EC-LiPF6 interface cells (the same cells for all; warm-up excluded; median
   of repeats) on the CPU with ``--threads`` torch threads, and on CUDA when asked;
5. prints one table with the ratios ours/MACE and ours/NequIP and writes it all as JSON.

Every model runs in its own subprocess (benchmarks/peers/*_driver.py) with the same thread
settings. See benchmarks/README.md for the choices made and why.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
sys.path.insert(0, str(PEERS))

import common  # noqa: E402
import report  # noqa: E402
import venvs  # noqa: E402

MODELS = ("ours", "mace", "nequip")
SPECIES = ["H", "Li", "C", "O", "F", "P"]
# Li(100) slab + EC (+ LiPF6) packed on it: 104, 406 and 1,616 atoms
CELL_SPECS = [
    dict(face="100", size=(3, 3), layers=4, n_solvent=6, molarity=2.0, seed=0),
    dict(face="100", size=(5, 5), layers=6, n_solvent=24, molarity=1.0, seed=0),
    dict(face="100", size=(10, 10), layers=6, n_solvent=96, molarity=1.0, seed=0),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", type=Path, default=Path("datasets/li_ec_gfn1"),
                   help="folder with train/val/test.extxyz(.gz) (default: datasets/li_ec_gfn1)")
    for split in ("train", "val", "test"):
        d.add_argument(f"--{split}", type=Path, default=None, help=f"{split} file (overrides --data)")
    d.add_argument("--cells", type=Path, default=None,
                   help="extxyz of the cells to time (default: built once into OUT/cells.extxyz)")
    t = p.add_argument_group("training")
    t.add_argument("--budget-min", type=float, default=20.0, help="training-time budget per model (minutes)")
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--energy-weight", type=float, default=1.0)
    t.add_argument("--forces-weight", type=float, default=10.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--our-preset", default="small", help="seimlip model preset")
    t.add_argument("--reuse-trained", action="store_true",
                   help="skip training a model whose train result is already in OUT")
    s = p.add_argument_group("throughput")
    s.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch threads (default: the cores this process may use)")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="training device; throughput is always measured on the CPU, and on CUDA too with cuda")
    s.add_argument("--warmup", type=int, default=5)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--min-repeat-s", type=float, default=2.0)
    s.add_argument("--skip-speed", action="store_true")
    e = p.add_argument_group("environments")
    e.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of ours,mace,nequip")
    e.add_argument("--mace-venv", type=Path, default=None, help=f"default {venvs.DEFAULT_ROOT}/venv-mace")
    e.add_argument("--nequip-venv", type=Path, default=None, help=f"default {venvs.DEFAULT_ROOT}/venv-nequip")
    e.add_argument("--mace-spec", default="mace-torch==0.3.16")
    e.add_argument("--nequip-spec", default="nequip==0.19.1")
    e.add_argument("--torch-spec", default="torch==2.13.0", help="installed first in each peer venv")
    e.add_argument("--pip-args", default="", help="extra pip arguments, e.g. an --index-url for CUDA wheels")
    e.add_argument("--setup-only", action="store_true", help="create/check the peer venvs and stop")
    e.add_argument("--nequip-no-compile", action="store_true", help="evaluate NequIP eagerly (skip AOTInductor)")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, default=Path("runs/bench_models"), help="work folder (logs, models)")
    o.add_argument("--json", type=Path, default=None, help="write the results here (default OUT/results.json)")
    a = p.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = sorted(set(a.models) - set(MODELS))
    if bad:
        p.error(f"unknown models {bad}; choose from {MODELS}")
    return a


# -- data -----------------------------------------------------------------------------------------
def split_paths(a) -> dict[str, Path]:
    out = {}
    for split in ("train", "val", "test"):
        path = getattr(a, split)
        if path is None:
            found = [a.data / f"{split}{ext}" for ext in (".extxyz.gz", ".extxyz", ".xyz")]
            path = next((f for f in found if f.is_file()), None)
            if path is None:
                raise SystemExit(f"no {split} split in {a.data} (looked for {', '.join(f.name for f in found)}); "
                                 f"pass --{split} FILE or --data DIR")
        if not Path(path).is_file():
            raise SystemExit(f"--{split}: no such file {path}")
        out[split] = Path(path).resolve()
    return out


def labels(atoms) -> tuple[float, "object"]:
    """(energy, forces) of a labelled frame: info/arrays keys or the calculator ASE attached."""
    import numpy as np

    energy = atoms.info.get("energy", atoms.info.get("REF_energy"))
    forces = atoms.arrays.get("forces", atoms.arrays.get("REF_forces"))
    if energy is None or forces is None:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    return float(energy), np.asarray(forces, dtype=float)


def prepare_data(paths: dict[str, Path], out: Path) -> dict:
    """The splits as read, plus plain-extxyz copies with REF_* keys for the peers (the key names
    MACE recommends; ``energy``/``forces`` collide with ASE's calculator results)."""
    from ase import Atoms
    from ase.io import write

    data, peer_files, elements = {}, {}, set()
    for split, path in paths.items():
        frames, copies = common.read_frames(path), []
        for atoms in frames:
            e, f = labels(atoms)
            c = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
            c.info.update(REF_energy=e, config_type=str(atoms.info.get("config_type", "Default")))
            c.arrays["REF_forces"] = f
            copies.append(c)
            elements.update(atoms.get_chemical_symbols())
        peer_files[split] = out / "data" / f"{split}.extxyz"
        peer_files[split].parent.mkdir(parents=True, exist_ok=True)
        write(peer_files[split], copies, format="extxyz")
        data[split] = copies
    return {"frames": data, "peer_files": peer_files, "elements": elements,
            "n_frames": {k: len(v) for k, v in data.items()},
            "n_atoms": {k: sum(len(x) for x in v) for k, v in data.items()}}


def build_cells(a) -> Path:
    from ase.io import read, write

    path = a.cells or a.out / "cells.extxyz"
    if not path.is_file():
        from md_runs.builders import li_interface

        print("[cells] building the Li|EC interface cells ...", file=sys.stderr, flush=True)
        cells = []
        for spec in CELL_SPECS:
            atoms = li_interface(**spec)
            atoms.info["builder_spec"] = json.dumps(spec)
            cells.append(atoms)
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, cells, format="extxyz")
    print(f"[cells] {path}: {[len(c) for c in read(path, ':')]} atoms", file=sys.stderr, flush=True)
    return path.resolve()


def test_metrics(frames, pred: dict) -> dict:
    """Energy MAE per atom (mean over frames of |dE|/N) and force MAE (over components), in eV."""
    import numpy as np

    n = np.array([len(f) for f in frames])
    e_ref = np.array([f.info["REF_energy"] for f in frames])
    f_ref = np.concatenate([f.arrays["REF_forces"] for f in frames])
    if not np.array_equal(n, pred["n_atoms"]):
        raise RuntimeError("prediction/frame mismatch")
    de = (pred["energy"] - e_ref) / n
    df = pred["forces"] - f_ref
    return {"energy_mae_per_atom": float(np.abs(de).mean()), "energy_rmse_per_atom": float(np.sqrt((de ** 2).mean())),
            "force_mae": float(np.abs(df).mean()), "force_rmse": float(np.sqrt((df ** 2).mean())),
            "n_frames": int(len(frames))}


# -- running the drivers --------------------------------------------------------------------------
def driver_cmd(model: str, envs: dict) -> tuple[list[str], dict]:
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    if model == "ours":
        return [sys.executable, str(PEERS / "ours_driver.py")], env
    peer = envs[model]
    env.update(peer.env)
    return [str(peer.python), str(PEERS / f"{model}_driver.py")], env


def run_driver(model: str, step: str, args: list[str], a, envs: dict, tag: str | None = None) -> dict:
    cmd, env = driver_cmd(model, envs)
    threads = str(a.threads)
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               WANDB_MODE="disabled", PYTHONUNBUFFERED="1")
    folder = a.out / model
    folder.mkdir(parents=True, exist_ok=True)
    tag = tag or step
    result_path, log_path = folder / f"{tag}.json", folder / f"{tag}.log"
    result_path.unlink(missing_ok=True)
    # driver-wide options first: MACE's --extra swallows everything after it
    full = cmd + [step, "--threads", threads, "--result", str(result_path), *args]
    print(f"[{model}] {tag} ... (log: {log_path})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(full) + "\n")
        log.flush()
        proc = subprocess.run(full, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=Path.cwd())
    if proc.returncode != 0 or not result_path.is_file():
        tail = log_path.read_text().splitlines()[-15:]
        raise RuntimeError(f"{model} {tag} failed (exit {proc.returncode}); last lines of {log_path}:\n" + "\n".join(tail))
    result = json.loads(result_path.read_text())
    result["subprocess_s"] = time.perf_counter() - t0
    return result


def train_args(model: str, a, data: dict, species: list[str]) -> list[str]:
    f = data["peer_files"]
    train, val = (a.splits["train"], a.splits["val"]) if model == "ours" else (f["train"], f["val"])
    args = ["--train", str(train), "--val", str(val), "--out", str((a.out / model / "train").resolve()),
            "--budget-min", str(a.budget_min), "--seed", str(a.seed), "--batch-size", str(a.batch_size),
            "--energy-weight", str(a.energy_weight), "--forces-weight", str(a.forces_weight), "--device", a.device]
    if model == "ours":
        args += ["--preset", a.our_preset, "--species", *species]
    elif model == "nequip":
        args += ["--species", *species] + (["--no-compile"] if a.nequip_no_compile else [])
    elif model == "mace":
        from ase.data import atomic_numbers

        args += ["--extra", "--atomic_numbers", "[" + ",".join(str(atomic_numbers[s]) for s in species) + "]"]
    return args


def bench_model(model: str, a, envs: dict, data: dict, species: list[str], cells: Path | None) -> dict:
    out: dict = {"model": model}
    cached = a.out / model / "train.json"
    if a.reuse_trained and cached.is_file():
        out["train"] = {**json.loads(cached.read_text()), "reused": True}
    else:
        out["train"] = run_driver(model, "train", train_args(model, a, data, species), a, envs)

    def trained(device: str) -> str:  # NequIP's compiled models are per device
        return (out["train"].get("models") or {}).get(device, out["train"]["model"])

    import numpy as np

    dev = "cuda" if a.device == "cuda" else "cpu"
    pred_path = a.out / model / "test_predictions.npz"
    out["predict"] = run_driver(model, "predict", ["--model", trained(dev), "--data", str(data["peer_files"]["test"]),
                                                   "--out", str(pred_path), "--device", dev], a, envs)
    with np.load(pred_path) as z:
        out["test"] = test_metrics(data["frames"]["test"], {k: z[k] for k in z.files})
    if cells is not None:
        speed_args = ["--cells", str(cells), "--warmup", str(a.warmup),
                      "--repeats", str(a.repeats), "--min-repeat-s", str(a.min_repeat_s)]
        out["speed"] = {}
        for device in (["cpu", "cuda"] if a.device == "cuda" else ["cpu"]):
            try:  # a failed timing keeps the accuracy figures
                out["speed"][device] = run_driver(model, "speed", [*speed_args, "--model", trained(device),
                                                                   "--device", device], a, envs, tag=f"speed_{device}")
            except RuntimeError as exc:
                print(f"[{model}] speed on {device} FAILED: {exc}", file=sys.stderr, flush=True)
                out["speed"][device] = {"error": str(exc)}
    return out


def machine_info(a) -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    info = {"host": platform.node(), "cpu": cpu, "cores_os": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)), "threads": a.threads,
            "load_avg_start": os.getloadavg(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        git = ["git", "-C", str(HERE.parent)]
        info["git_revision"] = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True,
                                              text=True).stdout.strip()
        # the project is installed editable: uncommitted changes under mlip/ are what gets measured
        info["mlip_uncommitted_changes"] = subprocess.run(git + ["status", "--porcelain", "--", "mlip"],
                                                          capture_output=True, text=True).stdout.split("\n")[:-1]
    except OSError:
        pass
    return info


def main(argv=None) -> int:
    a = parse_args(argv)
    a.out = a.out.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    envs = venvs.peer_envs(a.mace_venv, a.nequip_venv, a.mace_spec, a.nequip_spec)
    results: dict = {"machine": machine_info(a), "settings": {k: str(v) for k, v in vars(a).items()}, "setup": {}}
    setup_failed = {}
    for name in [m for m in a.models if m != "ours"]:
        try:
            results["setup"][name] = venvs.ensure(envs[name], a.torch_spec, pip_args=a.pip_args.split(),
                                                  log_dir=envs[name].path.parent)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            print(f"[setup] {name} FAILED: {exc}", file=sys.stderr, flush=True)
            results["setup"][name] = setup_failed[name] = {"model": name, "error": f"venv setup failed: {exc}"}
    if a.setup_only:
        print(json.dumps(results["setup"], indent=1))
        return 1 if setup_failed else 0
    a.splits = split_paths(a)
    data = prepare_data(a.splits, a.out)
    cells = None if a.skip_speed else build_cells(a)
    cell_elements = set() if cells is None else {s for c in common.read_frames(cells) for s in c.get_chemical_symbols()}
    species = [s for s in SPECIES if s in data["elements"] | cell_elements]
    species += sorted((data["elements"] | cell_elements) - set(species))
    trained = {s for f in data["frames"]["train"] for s in f.get_chemical_symbols()}
    results["data"] = {"splits": {k: str(v) for k, v in a.splits.items()}, "n_frames": data["n_frames"],
                       "n_atoms": data["n_atoms"], "species": species, "cells": str(cells) if cells else None,
                       "species_not_in_train": [s for s in species if s not in trained]}
    results["models"] = {}
    for model in a.models:
        if model in setup_failed:
            results["models"][model] = setup_failed[model]
            continue
        try:
            results["models"][model] = bench_model(model, a, envs, data, species, cells)
        except Exception as exc:  # noqa: BLE001 - report the others, say what failed
            print(f"[{model}] FAILED: {exc}", file=sys.stderr, flush=True)
            results["models"][model] = {"model": model, "error": str(exc)}
    results["machine"]["load_avg_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - started
    results["summary"] = report.summarise(results)
    print(report.table(results))
    json_path = a.json or a.out / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nresults: {json_path}")
    return 0 if all("error" not in m for m in results["models"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
