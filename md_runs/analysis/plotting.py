"""Matplotlib (Agg) figures saved atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mlip.utils import atomic_path  # noqa: E402


def figure(n_panels: int = 1, width: float = 5.0, height: float = 3.6):
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, list(axes[0])


def save_png(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` (never half-written) and close it."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
