"""MACE (mace-torch) driver for bench_models.py; run it with the MACE virtualenv's python.

    python mace_driver.py train   --train T --val V --out DIR --budget-min M [...]
    python mace_driver.py predict --model F --data X --out P.npz
    python mace_driver.py speed   --model F --cells C.extxyz

Training goes through mace-torch's own ``mace_run_train`` code path (``mace.cli.run_train.run``)
with its argument parser. The only intervention is the wall-clock budget, which MACE lacks: the
epoch loop's data loader stops yielding batches once the training clock (common.TrainClock:
the epoch loop's wall-clock, validation included, as seimlip counts it) reaches the budget;
MACE then validates and checkpoints that epoch, the next epoch's start ends training, and MACE
restores its best checkpoint and saves
``<name>.model`` as usual. MACE's own final error tables are skipped (the benchmark evaluates
every model itself, identically).

Needs ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (e3nn 0.4.4 under torch >= 2.6); set below.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


class BudgetExhausted(Exception):
    pass


class _TimedLoader:
    """Iterates the wrapped loader until the clock runs out (checked after every batch)."""

    def __init__(self, loader, clock: common.TrainClock, stats: dict):
        self.loader, self.clock, self.stats = loader, clock, stats

    def __iter__(self):
        for batch in self.loader:
            yield batch
            self.stats["steps"] = self.stats.get("steps", 0) + 1
            if self.clock.exhausted:
                return

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def _install_budget(clock: common.TrainClock, stats: dict) -> None:
    import mace.cli.run_train as run_train
    import mace.tools as tools

    train_module = sys.modules["mace.tools.train"]
    original_epoch = train_module.train_one_epoch
    original_train = tools.train

    def train_one_epoch(*args, **kwargs):
        clock.start()
        if clock.exhausted:
            raise BudgetExhausted
        kwargs["data_loader"] = _TimedLoader(kwargs["data_loader"], clock, stats)
        stats["epochs"] = stats.get("epochs", 0) + 1
        return original_epoch(*args, **kwargs)

    def train(*args, **kwargs):
        try:
            return original_train(*args, **kwargs)
        except BudgetExhausted:
            return None
        finally:
            clock.tick()  # the last epoch's validation and checkpoint included

    train_module.train_one_epoch = train_one_epoch
    tools.train = train
    run_train.create_error_table = lambda *a, **k: "(skipped by the benchmark)"


def mace_args(a) -> list[str]:
    out = Path(a.out)
    args = [
        "--name", "bench", "--seed", str(a.seed), "--model", "MACE",
        "--hidden_irreps", a.hidden_irreps, "--num_interactions", str(a.num_interactions),
        "--correlation", str(a.correlation), "--max_ell", str(a.max_ell), "--r_max", str(a.r_max),
        "--train_file", str(a.train), "--valid_file", str(a.val),
        "--energy_key", "REF_energy", "--forces_key", "REF_forces",
        "--E0s", "average", "--default_dtype", a.dtype, "--device", a.device,
        "--loss", "weighted", "--energy_weight", str(a.energy_weight), "--forces_weight", str(a.forces_weight),
        "--batch_size", str(a.batch_size), "--valid_batch_size", str(a.valid_batch_size),
        "--lr", str(a.lr), "--ema", "--ema_decay", str(a.ema_decay), "--amsgrad",
        "--clip_grad", "10", "--max_num_epochs", "1000000", "--patience", "1000000",
        "--eval_interval", "1", "--error_table", "PerAtomMAE", "--save_cpu",
        "--work_dir", str(out), "--model_dir", str(out), "--log_dir", str(out / "logs"),
        "--checkpoints_dir", str(out / "checkpoints"), "--results_dir", str(out / "results"),
    ]
    return args + list(a.extra)


def cmd_train(a) -> dict:
    common.set_threads(a.threads)
    import torch
    from mace import tools
    from mace.cli.run_train import run

    clock = common.TrainClock(a.budget_min)
    stats: dict = {}
    _install_budget(clock, stats)
    argv = mace_args(a)
    print("mace_run_train " + " ".join(argv), file=sys.stderr, flush=True)
    args = tools.build_default_arg_parser().parse_args(argv)
    t0 = time.perf_counter()
    run(args)
    wall = time.perf_counter() - t0
    model = Path(a.out) / "bench.model"
    if not model.is_file():
        raise SystemExit(f"MACE wrote no model at {model}")
    net = torch.load(model, map_location="cpu", weights_only=False)
    return {"model": str(model), "train_time_s": clock.spent, "epochs": stats.get("epochs", 0),
            "steps": stats.get("steps", 0),
            "wall_s": wall, "n_parameters": sum(p.numel() for p in net.parameters()),
            "inference_mode": "eager (MACECalculator)", "argv": argv, "versions": common.versions("mace-torch")}


def calculator(a):
    from mace.calculators import MACECalculator

    return MACECalculator(model_paths=a.model, device=a.device, default_dtype=a.dtype)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--train", required=True)
    t.add_argument("--val", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--budget-min", type=float, required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--valid-batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=0.01, help="mace-torch's default")
    t.add_argument("--ema-decay", type=float, default=0.99)
    t.add_argument("--energy-weight", type=float, default=1.0)
    t.add_argument("--forces-weight", type=float, default=10.0)
    t.add_argument("--hidden-irreps", default="64x0e + 64x1o")
    t.add_argument("--num-interactions", type=int, default=2)
    t.add_argument("--correlation", type=int, default=3)
    t.add_argument("--max-ell", type=int, default=3)
    t.add_argument("--r-max", type=float, default=5.0)
    t.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more mace_run_train arguments")
    for s in (t, sub.add_parser("predict"), sub.add_parser("speed")):
        common.add_common_args(s)
        s.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    common.add_predict_args(sub.choices["predict"])
    common.add_speed_args(sub.choices["speed"])
    a = p.parse_args(argv)
    if a.cmd == "train":
        result = cmd_train(a)
    else:
        common.set_threads(a.threads)
        calc = calculator(a)
        result = common.run_predict(calc, a) if a.cmd == "predict" else common.run_speed(calc, a)
        result["versions"] = common.versions("mace-torch")
    common.emit(result, a.result)


if __name__ == "__main__":
    main()
