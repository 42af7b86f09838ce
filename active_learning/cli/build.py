"""``seimlip data build``: draw the configurations of a sampling plan into an extxyz file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from active_learning.reference_data.build import BuildConfig, build_frames
from mlip.config import dump_config, load_config
from mlip.data.readers import write_frames
from mlip.utils import check_writable
from mlip.utils.console import progress_bar

DEFAULT_PLAN = Path(__file__).resolve().parent.parent / "configs" / "quick_plan.yaml"


def build(
    out: Path = typer.Option(..., "--out", "-o", help="extxyz file to write (.gz to compress)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Sampling plan (YAML); default: a small interface plan."),
    seed: Optional[int] = typer.Option(None, help="Overrides the plan's seed."),
) -> None:
    """Build the (unlabelled) configurations of a sampling plan; resumes after an interruption."""
    check_writable(out, what="--out")
    plan = config or DEFAULT_PLAN
    cfg = load_config(BuildConfig, plan, {"seed": seed})
    total = sum(s.count for s in cfg.systems)
    with progress_bar(transient=True) as bar:
        task = bar.add_task("building", total=total)
        parts = out.with_name(out.name + ".parts")
        frames = build_frames(
            cfg, progress=lambda name, n: bar.update(task, advance=n, description=name), parts_dir=parts,
            source=str(plan),
        )
    write_frames(out, frames)
    shutil.rmtree(parts)
    dump_config(cfg, out.with_name(out.name.split(".")[0] + ".plan.yaml"))
    Console().print(f"{len(frames)} frames -> {out}")
