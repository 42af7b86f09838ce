"""``seimlip data label``: label frames with a reference oracle, in parallel, resumably.

    seimlip data label frames.extxyz -o labelled.extxyz.gz                # GFN1-xTB, 2 workers
    seimlip data label frames.extxyz -o labelled.extxyz.gz -c label.yaml  # e.g. CP2K

``label.yaml``::

    oracle: {kind: cp2k, cutoff_ry: 400}   # see active_learning/oracles/config.py
    workers: 4
    timeout: 1800                          # s per oracle call; the call is killed after it
    retries: 1                             # extra tries for a timed-out or crashed call
    threads_per_worker: 1                  # OMP_NUM_THREADS of each worker
    cell_rules: gfn1-xtb-3000K             # converged cell sizes (active_learning/oracles/cell_rules.py)

Frames that are unphysical or below their family's converged size are refused before any oracle
call (tiled up to it where the rule allows); the command exits 1 when any frame has no label.

Stop it any way and run the same command again: finished labels are kept in
``labelled.label-store.sqlite`` and nothing is labelled twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from active_learning.oracles.cell_rules import load_cell_rules
from active_learning.reference_data.label import LabelConfig, label_with_config, sidecar_paths
from mlip.config import dump_config, load_config
from mlip.errors import UserError
from mlip.utils import check_writable

console = Console(stderr=True)
OUTPUT_SUFFIXES = (".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz")


def read_input(path: Path) -> list:
    from mlip.data.readers import read_frames  # imported on use: keeps `seimlip --help` fast

    return read_frames(path)


def label(
    input: Path = typer.Argument(..., help="Frames to label: extxyz (.gz), ase.db, a folder, or any ase.io format."),
    output: Path = typer.Option(..., "--output", "-o", help="Labelled frames, .extxyz or .extxyz.gz."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML: oracle, workers, timeout, retries."),
    workers: Optional[int] = typer.Option(None, help="Parallel oracle processes (default 2)."),
    timeout: Optional[float] = typer.Option(None, help="Seconds per oracle call before it is killed (default 600)."),
    retries: Optional[int] = typer.Option(None, help="Extra tries for a timed-out or crashed call (default 1)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Try frames that failed in earlier runs again."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Label frames with energy, forces and stress (GFN1-xTB by default); resumes after any stop."""
    if not output.name.lower().endswith(OUTPUT_SUFFIXES):
        raise UserError(f"output must end in one of {', '.join(OUTPUT_SUFFIXES)}", str(output))
    check_writable(output, what="--output")
    cfg = load_config(LabelConfig, config, {"workers": workers, "timeout": timeout, "retries": retries})
    rules = load_cell_rules(cfg.cell_rules, str(config) if config else "cell_rules")
    frames = read_input(input)
    if not frames:
        raise UserError("holds no frames", str(input))
    failures_path, store_path = sidecar_paths(output)
    config_path = failures_path.with_name(failures_path.name.replace(".failures.json", ".label-config.yaml"))
    dump_config(cfg, config_path)
    console.print(
        f"labelling {len(frames)} frames from {input} with {cfg.oracle.kind} "
        f"({cfg.workers} workers, timeout {cfg.timeout:g} s); resume store {store_path}"
    )
    try:
        summary = label_with_config(frames, output, cfg, cell_rules=rules, progress=progress,
                                    retry_failed=retry_failed)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished labels are kept in {store_path}; rerun to resume")
        raise typer.Exit(130) from None
    per_frame = summary.oracle_seconds / summary.oracle_calls if summary.oracle_calls else 0.0
    console.print(
        f"{summary.written}/{summary.total} frames labelled -> {summary.out_path} "
        f"({summary.done} new, {summary.cached} from the store, {summary.failed} failed; "
        f"{summary.seconds:.1f} s, {per_frame:.2f} s per oracle call)"
    )
    if rules is None:
        console.print("[yellow]no cell rules[/]: labels are not checked for finite-size convergence (set cell_rules)")
    if summary.failed:
        console.print(f"[red]{summary.failed} of {summary.total} frames have no label[/]: reasons in {summary.failures_path}")
        raise typer.Exit(1)
