"""Calibration of a model's uncertainty against its true force errors on held-out frames.

``calibration_report(model, frames, out_dir)`` runs ``model`` (deployed file, shipped name,
checkpoint or Potential) on labelled frames and compares, frame by frame, the true force error
(RMSE over the frame's force components) with the predicted uncertainty:

- committee (``n_members`` > 1): ``max_force_dev``, the largest per-atom force deviation (DP-GEN),
  and ``rms_force_dev``, its RMS over the frame's atoms;
- shallow ensemble (``readout_heads`` > 1): ``rms_atom_energy_std`` and ``max_atom_energy_std``,
  the RMS and the largest per-atom energy std over the heads (trained by the ``head_force_nll``
  loss as the atom's force-error std, eV/Å; the heads cost nothing extra, whereas per-head forces
  would cost K backward passes);
- both: ``energy_std_per_atom``, the std of the total energy per atom.

It reports Spearman's rank correlation per measure, binned error-vs-uncertainty curves, and writes
``calibration.json`` and ``calibration.png`` (atomically) into ``out_dir``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mlip.errors import UserError
from mlip.utils import atomic_path, write_json_atomic

JSON_NAME = "calibration.json"
PNG_NAME = "calibration.png"


def _frames(frames: Any) -> list:
    if isinstance(frames, (str, os.PathLike)):
        from mlip.data.readers import read_frames

        return list(read_frames(frames))
    return list(frames)


def _measures(calc) -> list[str]:
    """Uncertainty measures ``calc`` provides, the primary one first."""
    out = []
    if calc.n_members > 1:
        out += ["max_force_dev", "rms_force_dev"]
    if getattr(calc, "n_heads", 1) > 1:
        out += ["rms_atom_energy_std", "max_atom_energy_std"]
    if out:
        out.append("energy_std_per_atom")
    return out


def frame_uncertainties(calc, frames: Sequence, progress: Callable[[int], Any] | None = None) -> dict[str, np.ndarray]:
    """Per frame: ``force_rmse`` (true error, eV/Å) and each uncertainty measure of ``calc``."""
    measures = _measures(calc)
    rows: dict[str, list[float]] = {"force_rmse": [], **{m: [] for m in measures}}
    for k, atoms in enumerate(frames):
        reference = atoms.arrays.get("forces")
        if reference is None:
            raise UserError(f"frame {k} has no reference forces: calibration needs labelled frames "
                            "(extxyz 'forces' per atom)")
        a = atoms.copy()
        a.calc = calc
        forces = a.get_forces()
        rows["force_rmse"].append(float(np.sqrt(np.mean((forces - reference) ** 2))))
        results = calc.results
        for m in measures:
            if m == "energy_std_per_atom":
                rows[m].append(float(results["energy_std"]) / len(a))
            elif m.startswith("rms_"):
                per_atom = results["force_dev" if m == "rms_force_dev" else "atom_energy_std"]
                rows[m].append(float(np.sqrt(np.mean(np.square(per_atom)))))
            else:
                rows[m].append(float(results[m]))
        if progress is not None:
            progress(1)
    return {name: np.asarray(values) for name, values in rows.items()}


def binned(uncertainty: np.ndarray, error: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Frames sorted by uncertainty into ``n_bins`` equal-count bins: mean uncertainty, RMS error."""
    order = np.argsort(uncertainty)
    bins = [b for b in np.array_split(order, min(n_bins, len(order))) if len(b)]
    return {
        "uncertainty": [float(uncertainty[b].mean()) for b in bins],
        "force_rmse": [float(np.sqrt(np.mean(error[b] ** 2))) for b in bins],
        "n_frames": [int(len(b)) for b in bins],
    }


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(x, y).statistic)
    return rho if math.isfinite(rho) else None


def plot_calibration(report: dict, per_frame: dict[str, np.ndarray], path: Path) -> Path:
    """Error-vs-uncertainty scatter (log-log) with binned RMS errors, one panel per measure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = list(report["spearman"])
    fig, axes = plt.subplots(1, len(measures), figsize=(4.6 * len(measures), 4.2), squeeze=False)
    error = per_frame["force_rmse"]
    for ax, m in zip(axes[0], measures):
        u = per_frame[m]
        ax.scatter(u, error, s=9, alpha=0.5, color="tab:blue", label="frames")
        b = report["bins"][m]
        ax.plot(b["uncertainty"], b["force_rmse"], "o-", color="tab:red", label="binned RMS error")
        rho = report["spearman"][m]
        ax.set_title(f"{m}\nSpearman ρ = {'n/a' if rho is None else f'{rho:.3f}'}", fontsize=10)
        unit = "eV/atom" if m == "energy_std_per_atom" else "eV" if "energy" in m else "eV/Å"
        ax.set_xlabel(f"predicted uncertainty ({unit})")
        ax.set_ylabel("true force RMSE per frame (eV/Å)")
        if m.startswith("rms_"):  # a per-frame force RMSE prediction: calibrated points lie on y = x
            lo, hi = min(u.min(), error.min()), max(u.max(), error.max())
            ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=1, label="y = x")
        if (u > 0).all() and (error > 0).all():
            from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(FormatStrFormatter("%g"))
                axis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['kind']}: {report['n_frames']} frames", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def uncertainty_calculator(model: Any, device: str = "cpu"):
    """A :class:`SeimlipCalculator` for ``model``; UserError if it predicts no uncertainty."""
    from mlip.deploy.calculator import SeimlipCalculator

    calc = model if isinstance(model, SeimlipCalculator) else SeimlipCalculator(model, device=device)
    if not _measures(calc):
        where = str(model) if isinstance(model, (str, os.PathLike)) else None
        raise UserError("this model predicts no uncertainty: calibrate a committee (export several "
                        "checkpoints as one file) or a model trained with readout_heads > 1", where)
    return calc


def calibration_report(model: Any, frames: Any, out_dir: str | os.PathLike, n_bins: int = 10,
                       device: str = "cpu", progress: Callable[[int], Any] | None = None,
                       label: str | None = None) -> dict:
    """Spearman rank correlation between predicted uncertainty and true per-frame force RMSE, with
    binned curves; writes ``calibration.json`` and ``calibration.png`` into ``out_dir``.

    ``model``: deployed file, shipped name, checkpoint, Potential or SeimlipCalculator with an
    uncertainty (a committee or ``readout_heads`` > 1); ``frames``: Atoms with reference forces, or a
    file of them; ``label`` names the model in the report (default: ``model`` when a path/name).
    """
    calc = uncertainty_calculator(model, device)
    where = str(model) if isinstance(model, (str, os.PathLike)) else None
    measures = _measures(calc)
    frames = _frames(frames)
    if len(frames) < 3:
        raise UserError(f"calibration needs at least 3 labelled frames, got {len(frames)}")
    per_frame = frame_uncertainties(calc, frames, progress)
    error = per_frame["force_rmse"]
    report = {
        "model": label or where or type(model).__name__,
        "kind": "committee" if calc.n_members > 1 else "shallow_ensemble",
        "n_members": calc.n_members,
        "n_heads": int(getattr(calc, "n_heads", 1)),
        "n_frames": len(frames),
        "force_rmse": float(np.sqrt(np.mean(error ** 2))),
        "primary": measures[0],
        "spearman": {m: _spearman(per_frame[m], error) for m in measures},
        "bins": {m: binned(per_frame[m], error, n_bins) for m in measures},
        "per_frame": {name: values.tolist() for name, values in per_frame.items()},
        "config_type": [str(a.info.get("config_type", "default")) for a in frames],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_calibration(report, per_frame, out / PNG_NAME)
    write_json_atomic(out / JSON_NAME, report, indent=1)
    report["json"], report["png"] = str(out / JSON_NAME), str(out / PNG_NAME)
    return report
