"""``seimlip data stats|split``: inspect and split labelled reference data (only :mod:`mlip.data`).

``data build`` and ``data label`` need the builders and the oracles: they are
:mod:`active_learning.cli.data`, merged into the same ``seimlip data`` group by the root app."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from mlip.cli.options import EnergyKeyOpt, ForcesKeyOpt, StressKeyOpt, VirialsKeyOpt
from mlip.config import load_config
from mlip.data.keys import LabelKeys, key_overrides
from mlip.data.readers import read_frames
from mlip.data.split import SplitConfig, write_split
from mlip.data.stats import StatsConfig, statistics_of
from mlip.data.validate import validate_frames
from mlip.utils import check_writable, write_json_atomic

data_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML file with this command's settings.")


def _read_valid(path: Path, species: list[str], keys: LabelKeys | None = None):
    with console.status(f"reading {path}"):
        frames = read_frames(path, keys=keys)
        validate_frames(frames, species)
    return frames


@data_app.command("stats")
def stats(
    data: Path = typer.Argument(..., help="extxyz/ase.db file, any ase.io format, or a dataset folder."),
    config: Optional[Path] = ConfigOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the statistics as JSON."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --json file."),
    energy_key: Optional[str] = EnergyKeyOpt,
    forces_key: Optional[str] = ForcesKeyOpt,
    stress_key: Optional[str] = StressKeyOpt,
    virials_key: Optional[str] = VirialsKeyOpt,
) -> None:
    """Counts per config_type, energy/force distributions and reference energies; fails on any invalid frame."""
    if json_out:
        check_writable(json_out, overwrite=force, what="--json")
    cfg = load_config(StatsConfig, config, key_overrides(energy_key, forces_key, stress_key, virials_key))
    frames = _read_valid(data, cfg.species, cfg.label_keys())
    st = statistics_of(frames, cfg)
    table = Table(title=f"{data}: {st.n_frames} frames, {st.n_atoms} atoms")
    table.add_column("config_type")
    table.add_column("frames", justify="right")
    for name, count in st.per_config_type.items():
        table.add_row(name, str(count))
    table.add_row("[bold]total", f"[bold]{st.n_frames}")
    console.print(table)
    d = st.as_dict()
    rows = [
        ("atoms per frame", d["atoms_per_frame"], ""),
        ("energy per atom", d["energy_per_atom"], "eV"),
        ("energy per atom - E0", d["residual_energy_per_atom"], "eV"),
        ("force component", d["force_components"], "eV/Å"),
        ("|force|", d["force_norms"], "eV/Å"),
    ]
    dist = Table(title="distributions")
    for col in ("quantity", "mean", "std", "min", "max", "unit"):
        dist.add_column(col)
    for name, v, unit in rows:
        dist.add_row(name, *(f"{v[k]:.4g}" for k in ("mean", "std", "min", "max")), unit)
    console.print(dist)
    console.print("elements: " + ", ".join(f"{k} {v}" for k, v in st.elements.items()))
    console.print(
        f"reference energies ({cfg.e0_method}, eV): "
        + ", ".join(f"{k} {v:.4f}" for k, v in st.reference_energies.items())
    )
    console.print(f"frames with stress: {st.n_with_stress}")
    console.print("invalid frames: 0")
    if json_out:
        write_json_atomic(json_out, d)


@data_app.command("split")
def split(
    data: Path = typer.Argument(..., help="Labelled frames (file or folder)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train/val/test extxyz files."),
    config: Optional[Path] = ConfigOpt,
    seed: Optional[int] = typer.Option(None, help="Seed of the shuffle (overrides the config)."),
    fractions: Optional[tuple[float, float, float]] = typer.Option(None, help="Train, val, test fractions."),
    energy_key: Optional[str] = EnergyKeyOpt,
    forces_key: Optional[str] = ForcesKeyOpt,
    stress_key: Optional[str] = StressKeyOpt,
    virials_key: Optional[str] = VirialsKeyOpt,
) -> None:
    """Reproducible train/val/test split, stratified by config_type."""
    check_writable(out, folder=True, what="--out")
    cfg = load_config(SplitConfig, config, {"seed": seed, "fractions": fractions,
                                            **key_overrides(energy_key, forces_key, stress_key, virials_key)})
    frames = _read_valid(data, cfg.species, cfg.label_keys())
    parts = write_split(frames, out, cfg)
    console.print(", ".join(f"{name}: {len(p)}" for name, p in parts.items()) + f" -> {out}")
