"""`seimlip eval MODEL DATA`: energy, force and stress errors overall and per config_type.

Every model (checkpoint, deployed file, shipped name) is evaluated through its ASE calculator;
the error sums and metric tables are :mod:`mlip.train.metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlip.data.readers import frame_label
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
