"""``seimlip eval MODEL DATA``: a model's errors on labelled frames (:func:`mlip.evaluate.evaluate_file`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlip.cli.options import EnergyKeyOpt, ForcesKeyOpt, StressKeyOpt, VirialsKeyOpt
from mlip.data.keys import key_overrides
from mlip.utils import check_writable


def evaluate(
    model: str = typer.Argument(..., help="checkpoint, deployed model file, or a shipped model's name"),
    data: Path = typer.Argument(..., help="labelled frames: extxyz(.gz), ase.db, folder, ..."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="write the metrics here"),
    force: bool = typer.Option(False, "--force", help="replace an existing --json or --predictions file"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="folder for parity PNGs (default: beside --json)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with energy_key, ..., device, "
                                          "prediction_prefix (flags win)"),
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
    from mlip.config import load_config
    from mlip.evaluate import EvalConfig, evaluate_file
    from mlip.predictions import check_prefix

    cfg = load_config(EvalConfig, config, {"device": device, "prediction_prefix": prediction_prefix,
                                           **key_overrides(energy_key, forces_key, stress_key, virials_key)})
    if json_out is not None:
        check_writable(json_out, overwrite=force is True, what="--json")
    if predictions is not None:
        check_prefix(cfg.prediction_prefix)
        check_writable(predictions, overwrite=force is True, what="--predictions")
    plot_dir = plots if plots is not None else (json_out.parent if json_out is not None else None)
    if plot_dir is not None or uncertainty:
        check_writable(plot_dir or Path("."), folder=True, what="plots folder")
    evaluate_file(model, data, cfg, json_out=json_out, predictions=predictions, plot_dir=plot_dir,
                  plot_prefix=f"{json_out.stem}_parity" if plots is None and json_out is not None else "parity",
                  uncertainty=uncertainty)
