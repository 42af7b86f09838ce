"""``seimlip md run PROTOCOL.yaml --out DIR``: run an MD protocol (see :mod:`md_runs.protocols`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mlip.errors import UserError
from mlip.utils import check_writable

md_app = typer.Typer(no_args_is_help=True, help="Run MD protocols (SEI formation, Li transport).")


@md_app.command("run")
def run(
    protocol: Optional[Path] = typer.Argument(None, help="protocol YAML (md_runs/configs/*.yaml are examples)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="the protocol YAML (instead of the argument)"),
    out: Path = typer.Option(Path("md_out"), "--out", "-o", help="output folder (one run directory per system and T)"),
    resume: bool = typer.Option(True, "--resume/--no-resume",
                                help="continue interrupted runs and skip finished ones, or start over"),
) -> None:
    """Build, minimise, equilibrate and run production MD; resumable; stopped by safety monitors.

    Exit status 3 when a monitor stopped a run (its checkpoint and candidates.extxyz are kept).
    """
    from md_runs.protocols import MONITOR_EXIT_CODE, MonitorStop, run_protocol

    path = protocol or config
    if path is None:
        raise UserError("give the protocol YAML (seimlip md run PROTOCOL.yaml --out DIR)", "md run")
    if protocol is not None and config is not None and protocol != config:
        raise UserError("give the protocol YAML once (argument or --config), not two different files", "md run")
    check_writable(out, folder=True, what="--out")
    try:
        run_dirs = run_protocol(path, out, resume=resume)
    except MonitorStop as stop:
        Console(stderr=True).print(f"stopped by monitor: {stop}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(MONITOR_EXIT_CODE) from None
    Console().print(f"{len(run_dirs)} run directories in {out} (summary: {out / 'summary.md'})",
                   markup=False, highlight=False)
