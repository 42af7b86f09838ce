"""``seimlip validate MODEL [--suite quick|full] [--out DIR]``: a potential's physics against its
reference method and experiment (:mod:`md_runs.validation`); ``--recompute-reference`` computes the
reference method's own numbers with the GFN1-xTB oracle (:mod:`active_learning.reference_calculator`).

It lives in ``active_learning`` because the reference method is an oracle, and only this package
may import both the oracles and ``md_runs`` (DESIGN.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlip.errors import UserError

VALIDATION_EXIT_FAILED = 1


def _config(suite: str, config: Optional[Path], overrides: dict):
    from md_runs.validation import suite_config
    from mlip.config import read_yaml

    data = read_yaml(config) if config is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return suite_config(suite, data, str(config) if config else "--suite")


def recompute_reference(cfg, out: Path, work: Optional[Path], oracle: Optional[Path],
                        electronic_temperature: Optional[float], only: list[str] | None) -> Path:
    """Compute the reference method's numbers into ``out`` (resumable)."""
    from active_learning.reference_calculator import DATASET_V2, read_oracle_settings, tblite_factory
    from md_runs.validation.recompute import recompute

    oracle_path = oracle if oracle is not None else DATASET_V2 / "oracle.yaml"
    if oracle is not None and not oracle.is_file():
        raise UserError("oracle settings file not found", str(oracle))
    settings = read_oracle_settings(oracle_path)
    if electronic_temperature is not None:
        settings["electronic_temperature"] = float(electronic_temperature)
    if "electronic_temperature" not in settings:
        raise UserError(f"no electronic temperature: {oracle_path} does not exist or does not set one "
                        "(give --oracle FILE or --electronic-temperature K)")
    factory, method = tblite_factory(settings)
    method["settings_source"] = str(oracle_path) if oracle_path.is_file() else "--electronic-temperature"
    for task in only or []:
        if task not in cfg.recompute.tasks:
            raise UserError(f"--only {task}: not a reference task (tasks: {', '.join(cfg.recompute.tasks)})")
    work = work if work is not None else out.with_name(out.stem + "_work")
    return recompute(factory, out, work, cfg.recompute, method, only=only or None)


def validate(
    model: Optional[str] = typer.Argument(None, help="Deployed model file or shipped model name (li-ec-gfn1)."),
    suite: str = typer.Option("quick", "--suite", help="quick (~15 min on 2 cores) or full (hours)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: validation/<model>)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML overriding the suite (tolerances, checks ...)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Reference JSON (default: the shipped GFN1-xTB file)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for independent checks (default 2)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="MD engine for the model: lammps (default) or ase."),
    reference_on_model_path: Optional[bool] = typer.Option(
        None, "--reference-on-model-path/--no-reference-on-model-path",
        help="Also evaluate the reference method on the model's NEB images (default: with --suite full)."),
    recompute_ref: bool = typer.Option(
        False, "--recompute-reference", help="Compute the reference method's numbers (hours; resumable) first."),
    reference_out: Optional[Path] = typer.Option(
        None, "--reference-out", help="--recompute-reference: the reference JSON to write (default: --reference or "
                                      "reference_gfn1.json in the output folder)."),
    work: Optional[Path] = typer.Option(None, "--work", help="--recompute-reference: cache folder (resume)."),
    oracle: Optional[Path] = typer.Option(None, "--oracle", help="--recompute-reference: oracle settings YAML "
                                                                 "(default datasets/li_ec_gfn1_v2/oracle.yaml)."),
    electronic_temperature: Optional[float] = typer.Option(
        None, "--electronic-temperature", help="--recompute-reference: tblite electronic temperature (K)."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="--recompute-reference: just these tasks (eos:LiF ...)."),
) -> None:
    """Validate a potential's physics (EOS, crystal stability, liquids, NEB, surfaces, reactive MD)."""
    import sys

    from rich.console import Console

    from md_runs.validation import validate_model
    from md_runs.validation.outputs import print_table

    console = Console() if sys.stdout.isatty() else Console(width=200)  # logs and pipes get the whole table
    if model is None and not recompute_ref:
        raise UserError("give a MODEL (file or shipped name), or --recompute-reference")
    cfg = _config(suite, config, {"workers": workers, "engine": engine,
                                  "reference": str(reference) if reference else None})
    if model is not None:  # bad model names fail before anything runs or is written
        from md_runs.lammps.run import model_file

        model_file(model)
    if recompute_ref:
        target = reference_out or reference or (out or Path("validation")) / "reference_gfn1.json"
        path = recompute_reference(cfg, Path(target), work, oracle, electronic_temperature, only)
        console.print(f"reference values: {path}", highlight=False)
        cfg = cfg.model_copy(update={"reference": str(path)})
        if model is None:
            return
    factory = None
    if reference_on_model_path if reference_on_model_path is not None else cfg.suite == "full":
        from active_learning.reference_calculator import read_oracle_settings, tblite_factory
        from md_runs.validation import load_reference

        ref = load_reference(cfg.reference)
        factory, _ = tblite_factory(ref.method.get("settings") or read_oracle_settings(oracle))
    folder = out if out is not None else Path("validation") / Path(model).stem
    doc = validate_model(model, folder, cfg, reference_factory=factory,
                         progress=lambda line: console.print(line, highlight=False, markup=False, emoji=False))
    print_table(doc, console)
    if not doc["passed"]:
        raise typer.Exit(VALIDATION_EXIT_FAILED)
