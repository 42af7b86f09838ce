"""``seimlip quickstart``: the main job on its embedded defaults, resumable step by step.

Shipped dataset and model -> active learning with GFN1-xTB -> SEI formation and Li transport MD
-> analysis -> PyBaMM export with a check -> a report (``OUT/report.html``). See
:mod:`active_learning.pipeline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def quickstart(
    out: Path = typer.Option(Path("quickstart"), "--out", "-o", help="Run folder (resumes if it exists)."),
    scale: str = typer.Option("quick", help="quick (~20 min on 2 cores) or production (GPU node, hours)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="A quickstart YAML instead of --scale's."),
    allow_unvalidated: bool = typer.Option(
        False, "--allow-unvalidated", help="Export parameters of phases that failed validation (marked)."),
) -> None:
    """Run the whole pipeline into OUT and write OUT/report.html."""
    from active_learning.pipeline import load_quickstart_config, run_pipeline
    from mlip.utils import check_writable

    check_writable(out, folder=True, what="--out")
    cfg = load_quickstart_config(config, scale)
    if allow_unvalidated:
        cfg = cfg.model_copy(update={"allow_unvalidated": True})
    run_pipeline(cfg, out, source=str(config) if config is not None else f"the --scale {scale} config")
