"""Species over time: counts of every species along a run, their plot and result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.progress import track

from md_runs.analysis.common import block_mean, run_provenance, window_start
from md_runs.analysis.config import AnalysisConfig
from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.analysis.species import FrameSpecies, classify
from md_runs.trajectory import Run


def species_series(run: Run, config: AnalysisConfig) -> tuple[list[int], np.ndarray, list[FrameSpecies]]:
    """Frame indices, times (ps) and species of every ``species_stride``-th frame (and the last)."""
    idx = list(range(0, len(run.frames), config.species_stride))
    if idx[-1] != len(run.frames) - 1:
        idx.append(len(run.frames) - 1)
    frames = [classify(run.frames[k], config.bond_cutoffs, config.li_anion_cutoff)
              for k in track(idx, description=f"species {run.info.name}", transient=True)]
    return idx, run.times_ps[idx], frames


def count_table(times: np.ndarray, series: list[FrameSpecies]) -> dict[str, list]:
    names = sorted({name for s in series for name in s.counts})
    table: dict[str, list] = {"time_ps": [float(t) for t in times]}
    for name in names:
        table[name] = [int(s.counts.get(name, 0)) for s in series]
    return table


def species_result(run: Run, times: np.ndarray, series: list[FrameSpecies], config: AnalysisConfig,
                   png: Path) -> AnalysisResult:
    """Counts vs time (table), mean counts over the last ``profile_window_fraction`` (quantities)."""
    table = count_table(times, series)
    start = window_start(len(times), config.profile_window_fraction)
    quantities = []
    for name, counts in table.items():
        if name == "time_ps":
            continue
        mean, err = block_mean(np.array(counts[start:], dtype=float), config.blocks)
        quantities.append(Quantity(mean, err, "1", "bond graph (species.classify)",
                                   {"species": name, "initial": counts[0], "final": counts[-1]}))
    fig, (ax,) = figure(1, 6.0, 4.0)
    for name, counts in table.items():
        if name != "time_ps":
            ax.plot(table["time_ps"], counts, label=name, drawstyle="steps-post")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("count")
    ax.set_title(f"species: {run.info.name}")
    ax.legend(fontsize=7, ncol=2)
    save_png(fig, png)
    window = (float(times[start]), float(times[-1]))
    return AnalysisResult("species", {"species_count": quantities}, {"counts": table},
                          run_provenance(run, window, bond_cutoffs=config.bond_cutoffs or "default",
                                         li_anion_cutoff_A=config.li_anion_cutoff),
                          [png.name])
