"""Typer command functions of ``mlip``: ``seimlip train`` and ``seimlip eval``.

They are registered on the ``seimlip`` app by ``active_learning.cli`` (data flows one way).
Errors a user can fix are raised as ``UserError`` and printed by the app as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer
import yaml
from pydantic import Field

from mlip.cli_options import EnergyKeyOpt, ForcesKeyOpt, StressKeyOpt, VirialsKeyOpt
from mlip.data.keys import LabelKeys, key_overrides
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


class EvalConfig(LabelKeys):
    """``seimlip eval --config``: the label keys (as in a training config's ``data:``) and the
    evaluation settings; a flag given on the command line wins."""

    batch_size: int = Field(16, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    prediction_prefix: str = Field("seimlip_", description="key prefix of the predictions in --predictions")


def evaluate(
    model: str = typer.Argument(..., help="checkpoint, deployed model file, or a shipped model's name"),
    data: Path = typer.Argument(..., help="labelled frames: extxyz(.gz), ase.db, folder, ..."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the metrics here"),
    force: bool = typer.Option(False, "--force", help="replace an existing --json or --predictions file"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="folder for parity PNGs (default: beside --json)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with energy_key, ..., batch_size, "
                                          "device, prediction_prefix (flags win)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="frames per batch (default 16)"),
    device: Optional[str] = typer.Option(None, help="auto (default), cpu or cuda"),
    uncertainty: bool = typer.Option(False, "--uncertainty", help="also calibrate the model's uncertainty "
                                     "(committee or readout heads): calibration.json + calibration.png"),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help="write the frames with the "
                                               "predictions (and uncertainties) here, extxyz(.gz)"),
    prediction_prefix: Optional[str] = typer.Option(None, "--prediction-prefix", help="key prefix of the "
                                                    "predictions in --predictions (default seimlip_; labels "
                                                    "go under REF_*)"),
    energy_key: Optional[str] = EnergyKeyOpt,
    forces_key: Optional[str] = ForcesKeyOpt,
    stress_key: Optional[str] = StressKeyOpt,
    virials_key: Optional[str] = VirialsKeyOpt,
) -> None:
    """Energy/force/stress MAE and RMSE of MODEL on DATA, overall and per config_type."""
    from rich.console import Console
    from rich.progress import Progress

    from mlip.data.readers import read_frames
    from mlip.evaluate import check_eval_frames, evaluate_model, load_any_model, print_table, write_json
    from mlip.train.distributed import pick_device
    from mlip.train.plots import parity_plots

    from mlip.config import load_config

    cfg = load_config(EvalConfig, config, {"batch_size": batch_size, "device": device,
                                           "prediction_prefix": prediction_prefix,
                                           **key_overrides(energy_key, forces_key, stress_key, virials_key)})
    batch_size, device, prediction_prefix = cfg.batch_size, cfg.device, cfg.prediction_prefix
    if json_out is not None:
        check_writable(json_out, overwrite=force is True, what="--json")
    if predictions is not None:
        from mlip.predictions import check_prefix

        check_prefix(prediction_prefix)
        check_writable(predictions, overwrite=force is True, what="--predictions")
    plot_dir = plots if plots is not None else (json_out.parent if json_out is not None else None)
    if plot_dir is not None or uncertainty:
        check_writable(plot_dir or Path("."), folder=True, what="plots folder")
    dev = pick_device(device)
    potential = load_any_model(model, device=dev)
    if uncertainty:  # refuse a model without uncertainty before the evaluation pass
        from mlip.uncertainty import uncertainty_calculator

        calibrated = uncertainty_calculator(model, device=str(dev))
    frames = read_frames(data, keys=cfg.label_keys())
    if not frames:
        raise UserError("no frames to evaluate on", str(data))
    check_eval_frames(frames, getattr(potential, "species", None))
    console = Console()
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("evaluating", total=len(frames))
        metrics, preds = evaluate_model(potential, frames, progress=lambda n: progress.update(task, advance=n))
    metrics["model"], metrics["data"] = str(model), str(data)
    print_table(metrics, title=f"{model} on {data}", console=console)
    if json_out is not None:
        write_json(json_out, metrics)
        console.print(f"metrics written to {json_out}")
    if predictions is not None:
        from mlip.predictions import write_predictions

        write_predictions(predictions, frames, preds, prediction_prefix)
        console.print(f"predictions written to {predictions}")
    if plot_dir is not None:
        prefix = f"{json_out.stem}_parity" if plots is None else "parity"
        for path in parity_plots(frames, preds, plot_dir, prefix=prefix):
            console.print(f"plot: {path}")
    if uncertainty:
        from mlip.uncertainty import calibration_report

        report = calibration_report(calibrated, frames, plot_dir or Path("."), label=str(model))
        rho = ", ".join(f"{m} {'n/a' if r is None else f'{r:.3f}'}" for m, r in report["spearman"].items())
        console.print(f"uncertainty calibration (Spearman ρ vs per-frame force RMSE): {rho}")
        console.print(f"calibration: {report['json']}, {report['png']}")
