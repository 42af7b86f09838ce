"""seimlip driver for bench_models.py; run it with the project's python.

    python ours_driver.py train   --train T --val V --out DIR --budget-min M [...]
    python ours_driver.py predict --model CKPT --data X --out P.npz
    python ours_driver.py speed   --model CKPT --cells C.extxyz

Training is the user's path: a YAML config run by ``seimlip train CONFIG.yaml`` (its
``max_time_minutes`` counts the same thing as the peers' budget: time inside training epochs).
Prediction and timing go through the ASE calculator ``mlip.deploy.SeimlipCalculator`` (the
TorchScript module the user's MD runs use).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def train_config(a) -> dict:
    model = {"preset": a.preset, "dtype": a.dtype}
    return {
        "data": {"train": str(a.train), "val": str(a.val), "species": a.species,
                 "reference_energies": "least_squares", "scale": "force_rms"},
        "model": model,
        "loss": {"weights": {"energy": a.energy_weight, "forces": a.forces_weight, "stress": a.stress_weight},
                 "late_stage": {"enabled": bool(a.late_stage)}},
        "optimizer": {"lr": a.lr},
        "ema_decay": a.ema_decay,
        "batch_size": a.batch_size,
        "eval_batch_size": a.valid_batch_size,
        "max_epochs": 1000000,
        "max_time_minutes": a.budget_min,
        "patience": None,
        "seed": a.seed,
        "device": a.device,
        "dtype": a.dtype,
        "out_dir": str(Path(a.out) / "run"),
        "wandb": {"enabled": False, "mode": "disabled"},
    }


def cmd_train(a) -> dict:
    import yaml

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "train.yaml"
    cfg_path.write_text(yaml.safe_dump(train_config(a), sort_keys=False))
    exe = Path(sys.executable).parent / "seimlip"
    cmd = [str(exe) if exe.exists() else "seimlip", "train", str(cfg_path)]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": str(a.threads)}
    t0 = time.perf_counter()
    if _cli_has_train(cmd[0], env):
        print(" ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, env=env, stdout=sys.stderr)
        how = "cli"
    else:  # `seimlip train` not registered in this checkout: the same function, called directly
        print("seimlip CLI has no `train` command; calling mlip.train.loop.train", file=sys.stderr, flush=True)
        from mlip.train.config import load_train_config
        from mlip.train.loop import train

        train(load_train_config(str(cfg_path)))
        how = "api"
    wall = time.perf_counter() - t0
    summary = json.loads((out / "run" / "summary.json").read_text())
    return {"model": str(Path(summary["checkpoint"]).resolve()), "train_time_s": summary["train_time_s"], "epochs": summary["epochs"],
            "steps": summary.get("steps"),
            "wall_s": wall, "n_parameters": summary["n_parameters"], "config": str(cfg_path),
            "stopped_by": summary.get("stopped_by"), "invoked_via": how,
            "inference_mode": "torchscript (SeimlipCalculator)", "versions": common.versions("seimlip")}


def _cli_has_train(exe: str, env: dict) -> bool:
    try:
        return subprocess.run([exe, "train", "--help"], env=env, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def calculator(a):
    from mlip.deploy.calculator import SeimlipCalculator

    return SeimlipCalculator(a.model, device=a.device)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--train", required=True)
    t.add_argument("--val", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--budget-min", type=float, required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--preset", default="small")
    t.add_argument("--species", nargs="+", default=["H", "Li", "C", "O", "F", "P"])
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--valid-batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.005, help="seimlip's default")
    t.add_argument("--ema-decay", type=float, default=0.99)
    t.add_argument("--energy-weight", type=float, default=1.0)
    t.add_argument("--forces-weight", type=float, default=10.0)
    t.add_argument("--stress-weight", type=float, default=0.0)
    t.add_argument("--late-stage", action="store_true", help="seimlip's late energy-weighted stage")
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
        result["versions"] = common.versions("seimlip")
    common.emit(result, a.result)


if __name__ == "__main__":
    main()
