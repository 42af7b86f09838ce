"""``seimlip al``: the active-learning campaign service.

    seimlip al init CAMPAIGN --config campaign.yaml   # folder with campaign.yaml + campaign.db
    seimlip al run CAMPAIGN [--max-iterations N]      # explore -> select -> label -> retrain
    seimlip al submit CAMPAIGN frames.extxyz          # candidate frames from a production run
    seimlip al status CAMPAIGN                        # iteration table + plots/*.png
    seimlip al resume CAMPAIGN                        # after any stop (orphaned jobs re-queued)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mlip.cli.options import EnergyKeyOpt, ForcesKeyOpt, StressKeyOpt, VirialsKeyOpt
from mlip.errors import UserError
from mlip.utils import check_writable

al_app = typer.Typer(no_args_is_help=True, help="Active-learning campaigns: init, run, submit, status, resume.")
console = Console() if sys.stdout.isatty() else Console(width=180)  # logs and pipes get the whole table


@al_app.command("init")
def init(
    campaign: Path = typer.Argument(..., help="campaign folder to create"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="campaign YAML (default: the shipped quick one)"),
    energy_key: Optional[str] = EnergyKeyOpt,
    forces_key: Optional[str] = ForcesKeyOpt,
    stress_key: Optional[str] = StressKeyOpt,
    virials_key: Optional[str] = VirialsKeyOpt,
) -> None:
    """Create a campaign folder from a YAML config (resolved into CAMPAIGN/campaign.yaml); the key
    flags name the labels of initial_data and test_data (they override the YAML's energy_key, ...)."""
    from active_learning.campaign import init_campaign
    from mlip.data.keys import key_overrides

    if config is None:
        config = Path(__file__).resolve().parent.parent / "configs" / "campaign_quick.yaml"
    check_writable(campaign, folder=True, what="campaign folder")
    out = init_campaign(config, campaign, key_overrides(energy_key, forces_key, stress_key, virials_key))
    console.print(f"campaign initialised in {out} (next: seimlip al run {out})")


def _run(campaign: Path, max_iterations: Optional[int], progress: bool, config: Optional[Path] = None) -> None:
    from active_learning.campaign import init_campaign, run_campaign
    from active_learning.campaign.iteration_report import print_table

    check_writable(campaign, folder=True, what="campaign folder")
    if config is not None and not (campaign / "campaign.yaml").exists():
        init_campaign(config, campaign)
    summary = run_campaign(campaign, max_iterations=max_iterations, progress=progress)
    print_table(summary.table, console, title=f"campaign {campaign}")
    console.print(f"stopped: {summary.stopped_by}; {summary.oracle_calls} oracle calls, {summary.labelled} labelled "
                  f"frames; model: {summary.model}")


@al_app.command("run")
def run(
    campaign: Path = typer.Argument(..., help="campaign folder (from `seimlip al init`)"),
    max_iterations: Optional[int] = typer.Option(None, "--max-iterations", help="stop after this iteration"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="init CAMPAIGN from this YAML first if new"),
) -> None:
    """Run the loop until convergence, the oracle budget or --max-iterations; resumable."""
    _run(campaign, max_iterations, progress, config)


@al_app.command("resume")
def resume(
    campaign: Path = typer.Argument(..., help="campaign folder"),
    max_iterations: Optional[int] = typer.Option(None, "--max-iterations", help="stop after this iteration"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Continue after any stop: orphaned running jobs are re-queued, finished labels kept."""
    _run(campaign, max_iterations, progress)


@al_app.command("submit")
def submit(
    campaign: Path = typer.Argument(..., help="campaign folder"),
    frames: Path = typer.Argument(..., help="candidate frames (extxyz, ase.db, ...)"),
    source: Optional[str] = typer.Option(None, "--source", help="name of the producing run (default: the file)"),
) -> None:
    """Queue candidate frames for the next iteration; duplicates are dropped."""
    from active_learning.campaign import submit_frames

    if not frames.exists():
        raise UserError("frames file not found", str(frames))
    check_writable(campaign, folder=True, what="campaign folder")
    done = submit_frames(campaign, frames, source or str(frames))
    refused = f", {len(done.refused)} refused as unphysical (first: {done.refused[0]})" if done.refused else ""
    console.print(f"{done.added} frames added, {done.duplicates} duplicates dropped{refused}",
                  markup=False, highlight=False, soft_wrap=True)


@al_app.command("status")
def status(
    campaign: Path = typer.Argument(..., help="campaign folder"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="write CAMPAIGN/plots/*.png"),
) -> None:
    """Print the iteration table (oracle calls, accurate/candidate/failed fractions, test errors)."""
    from active_learning.campaign import campaign_status
    from active_learning.campaign.iteration_report import print_table, write_plots

    if plots:
        check_writable(campaign / "plots", folder=True, what="--plots")
    rows = campaign_status(campaign)
    print_table(rows, console, title=f"campaign {campaign}")
    if plots:
        for path in write_plots(rows, campaign / "plots"):
            console.print(f"plot: {path}")


__all__ = ["al_app"]
