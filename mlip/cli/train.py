"""``seimlip train CONFIG``: train a potential (one model, a committee, or local DDP processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml

from mlip.cli.options import EnergyKeyOpt, ForcesKeyOpt, StressKeyOpt, VirialsKeyOpt
from mlip.data.keys import key_overrides
from mlip.errors import UserError
from mlip.utils import check_writable


def _overrides(pairs: list[str] | None) -> dict:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects KEY=VALUE (dotted keys, YAML values), got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def train(
    config: str = typer.Argument(..., help="training config YAML, or a preset name (small, medium)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in out_dir from checkpoints/last.pt"),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", "-o", help="run folder (overrides out_dir)"),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda (overrides device)"),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="overrides max_epochs"),
    max_time: Optional[float] = typer.Option(None, "--max-time", help="wall-clock budget in minutes"),
    seed: Optional[int] = typer.Option(None, help="overrides seed"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="KEY=VALUE override, dotted keys (repeatable)"),
    nproc: int = typer.Option(1, "--nproc", help="local DDP processes (gloo on CPU); use torchrun on clusters"),
    committee: int = typer.Option(1, "--committee", help="train K members (seeds seed..seed+K-1) in out_dir/member_i"),
    energy_key: Optional[str] = EnergyKeyOpt,
    forces_key: Optional[str] = ForcesKeyOpt,
    stress_key: Optional[str] = StressKeyOpt,
    virials_key: Optional[str] = VirialsKeyOpt,
) -> None:
    """Train a potential from a YAML config; writes checkpoints, metrics.csv, plots and summary.json."""
    from mlip.train.config import load_train_config

    overrides = _overrides(set_)
    for key, value in (("out_dir", str(out_dir) if out_dir else None), ("device", device),
                       ("max_epochs", max_epochs), ("max_time_minutes", max_time), ("seed", seed)):
        if value is not None:
            overrides[key] = value
    for key, value in key_overrides(energy_key, forces_key, stress_key, virials_key).items():
        overrides[f"data.{key}"] = value
    cfg = load_train_config(config, overrides)
    check_writable(cfg.out_dir, folder=True, what="out_dir")
    if nproc < 1:
        raise UserError("--nproc must be at least 1")
    if committee > 1:
        from mlip.train.committee import train_committee

        train_committee(cfg, committee, resume=resume)
        return
    if nproc > 1:
        from mlip.train.distributed import launch_local

        launch_local(cfg, nproc, resume=resume)
        return
    from mlip.train.loop import train as run

    run(cfg, resume=resume)
