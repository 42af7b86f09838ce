"""A run's thermo plot (``thermo.png``): temperature, potential energy, volume, min distance vs time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.trajectory import read_thermo_csv
from mlip.utils import atomic_path


def plot_thermo(run_dir: str | Path, target_K: float | None = None) -> Path | None:
    """Equilibration (grey, negative times) and production (blue) thermo of ``run_dir`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    production = read_thermo_csv(run_dir / "thermo.csv")
    equilibration = read_thermo_csv(run_dir / "equilibration" / "thermo.csv")
    if not production and not equilibration:
        return None
    panels = [("temperature_K", "T (K)"), ("potential_eV", "E_pot (eV)"), ("volume_A3", "V (Å³)"),
              ("min_distance_A", "closest pair (Å)")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 8), sharex=True)
    shift = equilibration["time_ps"][-1] if equilibration else 0.0
    for ax, (key, label) in zip(axes, panels):
        for data, colour, name, offset in ((equilibration, "0.6", "equilibration", shift), (production, "C0", "production", 0.0)):
            if data and key in data and np.any(np.isfinite(data[key])):
                ax.plot(data["time_ps"] - offset, data[key], color=colour, lw=1, label=name)
        if key == "temperature_K" and target_K:
            ax.axhline(target_K, color="k", ls=":", lw=0.8)
        ax.set_ylabel(label)
    axes[0].legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("time (ps; production starts at 0)")
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    path = run_dir / "thermo.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
