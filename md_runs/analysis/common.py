"""Helpers shared by the analyses: provenance of a result, time windows, block statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from md_runs.trajectory import Run
from mlip.utils import provenance


def run_provenance(run: Run, window_ps: tuple[float, float] | None = None, **extra: Any) -> dict[str, Any]:
    """Model, run directory, temperature and time window of a result (plus versions and git revision)."""
    info = run.info
    out: dict[str, Any] = {
        "run": str(run.path), "run_name": info.name, "system": info.system, "protocol": info.protocol,
        "model": info.model, "model_sha256": info.model_sha256, "engine": info.engine,
        "ensemble": info.ensemble, "temperature_K": info.temperature_K, "n_frames": len(run.frames),
        "formula_unit": info.formula_unit, "surface_normal": info.surface_normal,
    }
    if window_ps is not None:
        out["time_window_ps"] = [float(window_ps[0]), float(window_ps[1])]
    out.update(extra)
    out["software"] = provenance()
    return out


def window_start(n: int, fraction: float) -> int:
    """Index of the first frame of the last ``fraction`` of ``n`` frames (at least one frame)."""
    return max(0, min(n - 1, int(round(n * (1.0 - fraction)))))


def block_mean(values: np.ndarray, blocks: int) -> tuple[float, float]:
    """Mean and its standard error from ``blocks`` contiguous blocks (std 0 for a constant series)."""
    values = np.asarray(values, dtype=float)
    blocks = max(1, min(int(blocks), len(values)))
    means = np.array([b.mean() for b in np.array_split(values, blocks)])
    err = float(means.std(ddof=1) / np.sqrt(blocks)) if blocks > 1 else 0.0
    return float(values.mean()), err
