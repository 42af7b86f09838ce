"""``seimlip deploy``: training checkpoint(s) -> one deployed model file (several = a committee)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
import yaml

from mlip.config import load_config
from mlip.deploy.config import DeployConfig


def deploy(
    checkpoint: Optional[List[Path]] = typer.Argument(
        None, help="Training checkpoint(s); give several to deploy a committee (uncertainty from their spread)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Deployed model file to write (e.g. model.pt)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 or float64 (default: the model's own)."),
    module_format: Optional[str] = typer.Option(
        None, "--format", help="torchscript (default; ASE and LAMMPS) or export (a torch.export program, .pt2; ASE)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML with checkpoints/output/dtype."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """Export checkpoint(s) to one file: TorchScript for the ASE calculator and LAMMPS (pair_style seimlip),
    or with --format export a torch.export program for the ASE calculator."""
    from mlip.deploy.exporter import export
    from mlip.errors import UserError
    from mlip.utils import check_writable

    cfg = load_config(DeployConfig, config, {"checkpoints": list(checkpoint) if checkpoint else None,
                                             "output": output, "dtype": dtype,
                                             "format": module_format if isinstance(module_format, str) else None})
    if not cfg.checkpoints:
        raise UserError("give at least one checkpoint to deploy", "checkpoint")
    if cfg.output is None:
        raise UserError("say where to write the deployed model with -o/--output", "output")
    check_writable(cfg.output, overwrite=force is True, what="deployed model")
    resolved = cfg.model_dump(mode="json")
    source = [str(p) for p in cfg.checkpoints]
    path = export(source if len(source) > 1 else source[0], cfg.output, dtype=cfg.dtype,
                  extra_metadata={"deploy_config": resolved}, module_format=cfg.format)
    from mlip.deploy.format import read_metadata

    meta = read_metadata(path)
    typer.echo(yaml.safe_dump(resolved, sort_keys=False).rstrip())
    typer.echo(f"wrote {path}: {meta['n_members']} member(s), species {' '.join(meta['species'])}, "
               f"cutoff {meta['cutoff']} A, {meta['n_interactions']} interactions, {meta['dtype']}")
    if cfg.format == "torchscript":
        typer.echo(f"LAMMPS: pair_style seimlip {path}   pair_coeff * * <element of each type>")
    else:
        typer.echo(f"ASE: atoms.calc = mlip.load_calculator({str(path)!r})   (LAMMPS needs --format torchscript)")
