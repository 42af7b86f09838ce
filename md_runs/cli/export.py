"""``seimlip export pybamm ANALYSIS... -o sei.json [--bpx F] [--check]``: MD SEI properties -> PyBaMM."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from md_runs.export.config import ExportConfig

export_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()


@export_app.command("pybamm")
def pybamm_export(
    analyses: list[Path] = typer.Argument(..., help="Analysis result JSON files or folders (every result JSON below)."),
    out: Path = typer.Option(Path("sei.json"), "--out", "-o", help="Exported parameter file (JSON)."),
    bpx: Optional[Path] = typer.Option(None, "--bpx", help="Also write a BPX file (base set skeleton + User-defined SEI)."),
    check: bool = typer.Option(False, "--check", help="Run PyBaMM on the export and propagate its uncertainty."),
    check_dir: Optional[Path] = typer.Option(None, "--check-dir", help="Where --check writes (default: <out>_check/)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file with this command's settings."),
    base: Optional[str] = typer.Option(None, "--base", help="PyBaMM parameter set to build on (default OKane2022)."),
    sei_phase: Optional[str] = typer.Option(None, "--sei-phase", help="SEI phase to export when several are analysed."),
    sei_option: Optional[str] = typer.Option(None, "--sei-option", help="PyBaMM SEI option (default: from the exported diffusivity)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="--check: N joint samples instead of +-1 sigma runs."),
    validation: Optional[Path] = typer.Option(
        None, "--validation", help="validation.json of the model (seimlip validate): refuse parameters of failed phases."),
    allow_unvalidated: bool = typer.Option(
        False, "--allow-unvalidated", help="Export parameters from melted runs or failed phases anyway, marked."),
) -> None:
    """Map analysis results to PyBaMM's SEI parameters with mean, std and provenance."""
    from md_runs.export.run import export_and_check
    from mlip.config import load_config, validate
    from mlip.utils import check_writable

    check_writable(out, what="--out")
    if bpx is not None:
        check_writable(bpx, what="--bpx")
    folder = (check_dir or out.with_name(out.stem + "_check")) if check else None
    if folder is not None:
        check_writable(folder, folder=True, what="--check-dir")
    cfg = load_config(ExportConfig, config, {"base": base, "sei_phase": sei_phase, "sei_option": sei_option})
    if samples is not None:
        cfg = validate(ExportConfig, {**cfg.model_dump(), "check": {**cfg.check.model_dump(), "samples": samples}},
                       "--samples")
    run = export_and_check(analyses, out, cfg, bpx=bpx, check_dir=folder, validation=validation,
                           allow_unvalidated=allow_unvalidated, on_written=print_export)
    if run.check is not None:
        report, c = run.check, run.config.check
        band = report["bands"]["sei_thickness_m_vs_time_h"]
        cap = report["bands"]["capacity_Ah_vs_cycle"]
        console.print(f"check: {len(report['runs'])} PyBaMM {c.model} runs; SEI thickness after "
                      f"{band['x'][-1]:.3g} h: {band['mean'][-1] * 1e9:.3g} nm "
                      f"[{band['lower'][-1] * 1e9:.3g}, {band['upper'][-1] * 1e9:.3g}]; capacity at cycle "
                      f"{int(cap['x'][-1])}: {cap['mean'][-1]:.4g} A.h -> {folder}", highlight=False)
        for w in report["warnings"]:
            console.print(Text("warning: ", style="yellow") + Text(w), highlight=False)


def print_export(run) -> None:
    """The exported parameters beside the base set's and their plausible ranges, and what is missing."""
    doc, path, bpx = run.doc, run.path, run.bpx
    table = Table(title=f"{path} (on {doc['base']}, SEI option: {doc['sei_option']})")
    for col in ("PyBaMM parameter", "mean", "std", f"{doc['base']}", "plausible range", "method"):
        table.add_column(col)
    judged = doc.get("plausibility", {})
    for name, e in doc["uncertainty"].items():
        std = "-" if e["std"] is None else f"{e['std']:.3g}"
        j = judged.get(name, {})
        base_v = "-" if j.get("base_value") is None else f"{j['base_value']:.3g}"
        lo, hi = j.get("plausible_range") or (None, None)
        span = "-" if lo is None else f"{lo:.2g}-{hi:.2g}"
        mean = Text(f"{e['mean']:.4g}", style="bold red" if j.get("plausible") is False else "")
        table.add_row(Text(name), mean, std, base_v, span, Text(e["provenance"]["method"][:50]))
    console.print(table)
    for w in (v["warning"] for v in judged.values() if v.get("warning")):
        console.print(Text(w, style="yellow"), highlight=False)
    console.print(f"not provided ({len(doc['not_provided'])}): " + "; ".join(doc["not_provided"]),
                  highlight=False, markup=False)
    if bpx is not None:
        console.print(f"BPX: {bpx}", markup=False)
    for name, why in doc["validation"]["unvalidated"].items():
        console.print(Text("UNVALIDATED: ", style="bold yellow") + Text(f"{name}: {'; '.join(why)}"), highlight=False)
