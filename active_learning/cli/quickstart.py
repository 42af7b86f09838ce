"""``seimlip quickstart``: the main job on its embedded defaults, resumable step by step.

Today: build a small Li|EC interface plan, label it with GFN1-xTB on the local process pool,
summarise the dataset. Each step writes its output atomically and is skipped when that output
already exists, so an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import typer
from rich.console import Console
from rich.rule import Rule

from active_learning.cli.build import DEFAULT_PLAN
from active_learning.labelling import label_frames
from active_learning.oracles import TBLiteConfig
from active_learning.sampling import BuildConfig, build_frames
from mlip.config import dump_config, load_config
from mlip.data.readers import read_frames, write_frames
from mlip.data.species import DEFAULT_SPECIES
from mlip.data.stats import dataset_statistics
from mlip.data.validate import validate_frames
from mlip.utils import provenance, write_text_atomic

console = Console()


def _step(out: Path, name: str, product: Path, run: Callable[[], None]) -> None:
    console.print(Rule(name))
    if product.exists():
        console.print(f"[green]done already[/] ({product.relative_to(out)})")
        return
    run()


def quickstart(
    out: Path = typer.Option(Path("quickstart"), "--out", "-o", help="Run folder (resumes if it exists)."),
    workers: int = typer.Option(2, help="Parallel oracle processes."),
) -> None:
    """Run the whole pipeline on the embedded defaults into OUT."""
    out.mkdir(parents=True, exist_ok=True)
    plan = load_config(BuildConfig, DEFAULT_PLAN)
    dump_config(plan, out / "plan.yaml")
    frames_path, labelled_path, stats_path = out / "frames.extxyz", out / "labelled.extxyz", out / "stats.json"

    def build() -> None:
        write_frames(frames_path, build_frames(plan))

    def label() -> None:
        summary = label_frames(read_frames(frames_path), TBLiteConfig(), labelled_path, workers=workers)
        console.print(
            f"{summary.done} labelled, {summary.failed} failed, {summary.cached} from earlier runs "
            f"({summary.seconds:.0f} s)"
        )

    def stats() -> None:
        frames = read_frames(labelled_path)
        validate_frames(frames, DEFAULT_SPECIES)
        st = dataset_statistics(frames, DEFAULT_SPECIES)
        for name, count in st.per_config_type.items():
            console.print(f"  {name:<24} {count:>5} frames")
        console.print(f"  mean |F| {st.force_norms.mean:.3f} eV/Å, max {st.force_norms.max:.3f} eV/Å")
        record = {"statistics": st.as_dict(), "provenance": provenance(plan.seed)}
        write_text_atomic(stats_path, json.dumps(record, indent=2))

    _step(out, "1/3 build configurations", frames_path, build)
    _step(out, "2/3 label with GFN1-xTB", labelled_path, label)
    _step(out, "3/3 dataset statistics", stats_path, stats)
    console.print(f"[bold green]quickstart finished[/]: {out}")
