"""NequIP (nequip) driver for bench_models.py; run it with the NequIP virtualenv's python.

    python nequip_driver.py train   --train T --val V --out DIR --budget-min M --species H Li ...
    python nequip_driver.py predict --model F --data X --out P.npz
    python nequip_driver.py speed   --model F --cells C.extxyz

Training is the user's path: a generated config run by ``nequip-train`` (Hydra + Lightning),
shaped like nequip's tutorial config. The budget is a Lightning callback (nequip_budget.py)
counting the same training time as for the other models. The E0s (``per_type_energy_shifts``)
are the least-squares fit on the training split, as MACE's ``--E0s average`` and seimlip's
``least_squares``; scales are nequip's per-type force RMS.

Afterwards the best checkpoint is compiled with ``nequip-compile --mode aotinductor --target
ase`` (nequip's recommended inference path; TorchScript is unsupported on torch >= 2.10); if
that fails, the checkpoint is evaluated in eager mode, and the result says which.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

MONITOR = "val0_epoch/weighted_sum"


def nequip_config(a, e0s: dict[str, float], all_types_trained: bool) -> dict:
    out = str(Path(a.out).resolve())
    # nequip's per-type force RMS is NaN for a type with no training atoms (NaN predictions on
    # any cell containing it); then fall back to the global force RMS
    scales = "per_type_forces_rms" if all_types_trained else "forces_rms"
    loss = {"_target_": "nequip.train.EnergyForceLoss", "per_atom_energy": True,
            "coeffs": {"total_energy": a.energy_weight, "forces": a.forces_weight}}
    transforms = [
        {"_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper", "model_type_names": a.species,
         "chemical_species_to_atom_type_map": {s: s for s in a.species}},
        {"_target_": "nequip.data.transforms.NeighborListTransform", "r_max": a.r_max},
    ]
    return {
        "run": ["train"],
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": a.seed,
            "train_file_path": str(Path(a.train).resolve()),
            "val_file_path": str(Path(a.val).resolve()),
            "ase_args": {"format": "extxyz"},
            "key_mapping": {"REF_energy": "total_energy", "REF_forces": "forces"},
            "transforms": transforms,
            "train_dataloader": {"_target_": "torch.utils.data.DataLoader", "batch_size": a.batch_size,
                                 "shuffle": True, "num_workers": 0},
            "val_dataloader": {"_target_": "torch.utils.data.DataLoader", "batch_size": a.valid_batch_size,
                               "num_workers": 0},
            "stats_manager": {"_target_": "nequip.data.CommonDataStatisticsManager",
                              "dataloader_kwargs": {"batch_size": a.valid_batch_size},
                              "type_names": a.species},
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "accelerator": "gpu" if a.device == "cuda" else "cpu",
            "devices": 1,
            "max_epochs": 1000000,
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 50,
            "enable_progress_bar": False,
            "logger": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": out, "name": "logs"},
            "callbacks": [
                {"_target_": "nequip_budget.TrainTimeBudget", "minutes": a.budget_min,
                 "report": str(Path(out) / "budget.json")},
                {"_target_": "lightning.pytorch.callbacks.ModelCheckpoint", "monitor": MONITOR,
                 "dirpath": out, "filename": "best", "save_last": True},
            ],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "ema_decay": a.ema_decay,
            "loss": loss,
            "val_metrics": loss,  # checkpoint selection on the validation loss, as MACE and seimlip
            "optimizer": {"_target_": "torch.optim.Adam", "lr": a.lr},
            "lr_scheduler": {
                "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "factor": 0.6,
                              "patience": 5, "threshold": 0.2, "min_lr": 1e-6},
                "monitor": MONITOR, "interval": "epoch", "frequency": 1,
            },
            "model": {
                "_target_": "nequip.model.NequIPGNNModel",
                "seed": a.seed,
                "model_dtype": a.dtype,
                "type_names": a.species,
                "r_max": a.r_max,
                "num_bessels": 8,
                "bessel_trainable": False,
                "polynomial_cutoff_p": 6,
                "num_layers": a.num_layers,
                "l_max": a.l_max,
                "parity": True,
                "num_features": a.num_features,
                "radial_mlp_depth": 2,
                "radial_mlp_width": 64,
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_scales": "${training_data_stats:" + scales + "}",
                "per_type_energy_shifts": e0s,
                "per_type_energy_scales_trainable": False,
                "per_type_energy_shifts_trainable": False,
            },
        },
        "global_options": {"allow_tf32": False},
    }


def _bin(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def cmd_train(a) -> dict:
    import yaml

    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    frames = common.read_frames(a.train)
    e0s = common.least_squares_e0s(frames, a.species)
    trained = {s for f in frames for s in f.get_chemical_symbols()}
    untrained = sorted(set(a.species) - trained)
    if untrained:
        print(f"species without training atoms: {untrained}; using the global force RMS as scale", file=sys.stderr)
    (out / "bench.yaml").write_text(yaml.safe_dump(nequip_config(a, e0s, not untrained), sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads),
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [_bin("nequip-train"), "-cp", str(out), "-cn", "bench", f"hydra.run.dir={out}"]
    print(" ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=out, stdout=sys.stderr)
    wall = time.perf_counter() - t0
    budget = json.loads((out / "budget.json").read_text())
    ckpt = out / "best.ckpt"
    if not ckpt.is_file():
        ckpt = out / "last.ckpt"
    result = {"checkpoint": str(ckpt), "train_time_s": budget["train_time_s"], "epochs": budget["epochs"],
              "steps": budget["steps"], "wall_s": wall, "e0s": e0s, "config": str(out / "bench.yaml")}
    result["n_parameters"] = _count_parameters(ckpt)
    result.update(_compile(a, ckpt, env))
    result["versions"] = common.versions("nequip", "lightning")
    return result


def _count_parameters(ckpt: Path) -> int | None:
    """Trainable parameters of the (eager) model in the checkpoint; None if it cannot be loaded."""
    try:
        from nequip.model.saved_models.load_utils import load_saved_model
        from nequip.utils.global_state import set_global_state

        set_global_state()
        model = load_saved_model(str(ckpt), compile_mode="eager")
        return int(sum(p.numel() for p in model.parameters()))
    except Exception as exc:  # noqa: BLE001 - informative only
        print(f"could not count parameters: {exc}", file=sys.stderr)
        return None


def _compile(a, ckpt: Path, env: dict) -> dict:
    """AOTInductor-compile the checkpoint for the CPU (and for CUDA when training there: a compiled
    model runs only on the device it was compiled for). ``models`` maps device -> model file."""
    if a.no_compile:
        return {"model": str(ckpt), "models": {}, "inference_mode": "eager (--no-compile)"}
    out: dict = {"model": str(ckpt), "models": {}, "compile_s": {}, "inference_mode": "aotinductor"}
    for device in ["cpu"] + (["cuda"] if a.device == "cuda" else []):
        target = ckpt.parent / f"bench.{device}.nequip.pt2"
        cmd = [_bin("nequip-compile"), str(ckpt), str(target), "--mode", "aotinductor", "--device", device,
               "--target", "ase"]
        print(" ".join(cmd), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        out["compile_s"][device] = time.perf_counter() - t0
        if proc.returncode == 0 and target.is_file():
            out["models"][device] = str(target)
        else:
            tail = (proc.stderr or "").strip().splitlines()[-5:]
            print("\n".join(tail), file=sys.stderr)
            out.setdefault("compile_error", {})[device] = tail
            out["inference_mode"] = f"eager on {device} (aotinductor compile failed)"
    return out


def calculator(a):
    from nequip.ase import NequIPCalculator
    from nequip.utils.global_state import set_global_state

    set_global_state()
    if str(a.model).endswith(".pt2"):
        return NequIPCalculator.from_compiled_model(a.model, device=a.device)
    return NequIPCalculator._from_saved_model(a.model, device=a.device)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--train", required=True)
    t.add_argument("--val", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--budget-min", type=float, required=True)
    t.add_argument("--species", nargs="+", required=True, help="element symbols the model knows")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--valid-batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.01, help="nequip tutorial's value")
    t.add_argument("--ema-decay", type=float, default=0.99)
    t.add_argument("--energy-weight", type=float, default=1.0)
    t.add_argument("--forces-weight", type=float, default=10.0)
    t.add_argument("--num-layers", type=int, default=3)
    t.add_argument("--l-max", type=int, default=1)
    t.add_argument("--num-features", type=int, default=32)
    t.add_argument("--r-max", type=float, default=5.0)
    t.add_argument("--no-compile", action="store_true", help="evaluate the checkpoint in eager mode")
    for s in (t, sub.add_parser("predict"), sub.add_parser("speed")):
        common.add_common_args(s)
        s.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    common.add_predict_args(sub.choices["predict"])
    common.add_speed_args(sub.choices["speed"])
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    if a.cmd == "train":
        result = cmd_train(a)
    else:
        calc = calculator(a)
        result = common.run_predict(calc, a) if a.cmd == "predict" else common.run_speed(calc, a)
        result["versions"] = common.versions("nequip")
    common.emit(result, a.result)


if __name__ == "__main__":
    main()
