"""``seimlip analyze RUN_DIR``: analyse MD runs (:func:`md_runs.analysis.analyze` with an ``AnalysisConfig``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def analyze(
    run_dir: Path = typer.Argument(..., help="a run directory, or a folder with run directories below it"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write results to OUT/analysis (default RUN_DIR/analysis)"),
    config: Optional[Path] = typer.Option(None, "--config", help="analysis YAML (AnalysisConfig)"),
) -> None:
    """Analyse MD runs: species, profiles, Li diffusion/conductivity, Arrhenius, density (JSON + PNG)."""
    from rich.console import Console

    from md_runs.analysis import AnalysisConfig, analyze as run_analysis
    from mlip.config import load_config
    from mlip.utils import check_writable

    base = check_writable(Path(out if out is not None else run_dir) / "analysis", folder=True, what="analysis")
    cfg = load_config(AnalysisConfig, config)
    written = run_analysis(run_dir, out, cfg)
    Console().print(f"{len(written)} results in {base} (summary.json)")
