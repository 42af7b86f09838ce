"""`seimlip eval MODEL DATA`: energy, force and stress errors overall and per config_type.

Every model (checkpoint, deployed file, shipped name) is evaluated through its ASE calculator;
the error sums and metric tables are :mod:`mlip.train.metrics`. :func:`evaluate_file` is what
``seimlip eval`` and the quickstart's model check both run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from mlip.data.keys import LabelKeys
from mlip.data.readers import frame_label, read_frames
from mlip.data.validate import validate_frames
from mlip.deploy import load_calculator
from mlip.errors import UserError
from mlip.predictions import uncertainty_results
from mlip.train.metrics import metrics_by_config_type
from mlip.utils import write_json_atomic


def predict_with_calculator(calc, frames, progress=None) -> list[dict]:
    """Predictions through an ASE calculator (a deployed model), with its uncertainties."""
    out = []
    for atoms in frames:
        a = atoms.copy()
        a.calc = calc
        stress = None
        if a.pbc.all():
            try:
                stress = np.asarray(a.get_stress(voigt=True))
            except Exception:  # a calculator without stress
                stress = None
        out.append({"energy": float(a.get_potential_energy()), "forces": np.asarray(a.get_forces()), "stress": stress})
        out[-1].update(uncertainty_results(calc.results))  # committee / readout-head spreads, if any
        if progress is not None:
            progress(1)
    return out


def print_table(metrics: dict, title: str = "errors", console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title)
    cols = [("n_frames", "frames", 1, "d"), ("energy_mae_per_atom", "E MAE\nmeV/atom", 1e3, ".2f"),
            ("energy_rmse_per_atom", "E RMSE\nmeV/atom", 1e3, ".2f"), ("force_mae", "F MAE\nmeV/Å", 1e3, ".1f"),
            ("force_rmse", "F RMSE\nmeV/Å", 1e3, ".1f"), ("stress_mae", "S MAE\nmeV/Å³", 1e3, ".3f")]
    table.add_column("config_type")
    for _, head, _, _ in cols:
        table.add_column(head, justify="right")

    def cells(m):
        return [("-" if m.get(k) is None else format(m[k] * f if fmt != "d" else m[k], fmt)) for k, _, f, fmt in cols]

    for name, m in metrics.get("per_config_type", {}).items():
        table.add_row(name, *cells(m))
    table.add_row("[bold]all[/]", *cells(metrics), end_section=True)
    console.print(table)


def load_any_model(spec: str | Path, device: str = "cpu"):
    """The ASE calculator of what ``spec`` names (a checkpoint, a deployed file or a shipped
    model's name): every model is evaluated through the code ASE and LAMMPS users run."""
    return load_calculator(spec, device=device)


def check_eval_frames(frames, species=None) -> None:
    """One ``UserError`` naming the file and frame unless every frame is valid (finite positions,
    cell and labels, known elements, no overlapping atoms: :mod:`mlip.data.validate`) and carries
    a label (energy or forces) to compare the model with."""
    validate_frames(frames, list(species) if species is not None else None, require_labels=False)
    bare = [a for a in frames if a.info.get("energy") is None and "forces" not in a.arrays]
    if bare:
        more = f" (and {len(bare) - 1} more such frame(s))" if len(bare) > 1 else ""
        raise UserError(f"no energy or forces label to evaluate the model against{more}", frame_label(bare[0]))


def evaluate_model(calc, frames, progress=None):
    """(metrics dict, predictions) of an ASE calculator (:func:`load_any_model`) on ``frames``."""
    preds = predict_with_calculator(calc, frames, progress=progress)
    return metrics_by_config_type(frames, preds), preds


def write_json(path: str | Path, data: dict) -> None:
    write_json_atomic(path, data)


class EvalConfig(LabelKeys):
    """``seimlip eval --config``: the label keys (as in a training config's ``data:``) and the
    evaluation settings; a flag given on the command line wins."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    prediction_prefix: str = Field("seimlip_", description="key prefix of the predictions in --predictions")


@dataclass
class Evaluation:
    """What :func:`evaluate_file` measured and wrote."""

    metrics: dict
    plots: list[Path] = field(default_factory=list)
    calibration: dict | None = None


def evaluate_file(model: str | Path, data: str | Path, cfg: EvalConfig | None = None, *,
                  json_out: Path | None = None, predictions: Path | None = None, plot_dir: Path | None = None,
                  plot_prefix: str = "parity", uncertainty: bool = False, title: str | None = None,
                  console=None) -> Evaluation:
    """Evaluate ``model`` on the labelled frames in ``data``: print the error table, write the
    metrics (``json_out``), the frames with predictions (``predictions``), parity plots
    (``plot_dir``/``plot_prefix``_*.png) and with ``uncertainty`` a calibration of the model's
    uncertainty (into ``plot_dir``, default the working folder). A model without uncertainty is
    refused with ``uncertainty`` before the evaluation pass."""
    from rich.console import Console
    from rich.progress import Progress

    from mlip.predictions import check_prefix, write_predictions
    from mlip.train.distributed import pick_device

    cfg = cfg or EvalConfig()
    console = console or Console()
    if predictions is not None:
        check_prefix(cfg.prediction_prefix)
    device = pick_device(cfg.device)
    calc = load_any_model(model, device=device)
    calibrated = None
    if uncertainty:
        from mlip.uncertainty import uncertainty_calculator

        calibrated = uncertainty_calculator(model, device=str(device))
    frames = read_frames(data, keys=cfg.label_keys())
    if not frames:
        raise UserError("no frames to evaluate on", str(data))
    check_eval_frames(frames, getattr(calc, "species", None))
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("evaluating", total=len(frames))
        metrics, preds = evaluate_model(calc, frames, progress=lambda n: progress.update(task, advance=n))
    metrics["model"], metrics["data"] = str(model), str(data)
    print_table(metrics, title=title or f"{model} on {data}", console=console)
    result = Evaluation(metrics)
    if json_out is not None:
        write_json(json_out, metrics)
        console.print(f"metrics written to {json_out}")
    if predictions is not None:
        write_predictions(predictions, frames, preds, cfg.prediction_prefix)
        console.print(f"predictions written to {predictions}")
    if plot_dir is not None:
        from mlip.train.plots import parity_plots

        result.plots = parity_plots(frames, preds, plot_dir, prefix=plot_prefix)
        for path in result.plots:
            console.print(f"plot: {path}")
    if calibrated is not None:
        from mlip.uncertainty import calibration_report

        report = calibration_report(calibrated, frames, plot_dir or Path("."), label=str(model))
        rho = ", ".join(f"{m} {'n/a' if r is None else f'{r:.3f}'}" for m, r in report["spearman"].items())
        console.print(f"uncertainty calibration (Spearman ρ vs per-frame force RMSE): {rho}")
        console.print(f"calibration: {report['json']}, {report['png']}")
        result.calibration = report
    return result
