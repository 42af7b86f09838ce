"""``export_and_check``: analysis results -> ``sei.json`` (+ BPX) -> the PyBaMM check, from one
:class:`~md_runs.export.config.ExportConfig`.

``seimlip export pybamm`` and the quickstart's export step both run it, so they export and check
the same way: the config is resolved against the export (reference temperature, SEI phase and
option, the base set's default cycle) and written beside ``sei.json`` (``sei.config.yaml``) and
into the check folder (``config.yaml``); a check that cannot run (no SEI diffusivity, a bad
cycle step) is refused before anything is written, unless ``keep_unchecked``: then the export is
written and the reason kept in :attr:`ExportRun.check_error` (the quickstart reports it), as is a
PyBaMM failure during the check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from md_runs.export.check import check_pybamm, checkable_option, default_cycle, make_experiment
from md_runs.export.config import ExportConfig
from md_runs.export.pybamm_json import build_export, write_export
from mlip.config import dump_config
from mlip.errors import UserError


@dataclass
class ExportRun:
    """What :func:`export_and_check` wrote: the export (its document and resolved config) and the check."""

    path: Path
    bpx: Path | None
    doc: dict[str, Any]
    config: ExportConfig
    check_dir: Path | None = None
    check: dict[str, Any] | None = None
    check_error: str | None = None


def resolved_config(cfg: ExportConfig, doc: dict[str, Any]) -> ExportConfig:
    """``cfg`` with what the export chose: reference temperature, SEI phase and option, check cycle."""
    return cfg.model_copy(update={
        "reference_temperature_K": doc["reference_temperature_K"], "sei_phase": doc["sei_phase"],
        "sei_option": doc["sei_option"],
        "check": cfg.check.model_copy(update={"cycle": cfg.check.cycle or default_cycle(doc["base"])})})


def export_and_check(analyses: list[str | os.PathLike], out: Path, cfg: ExportConfig | None = None, *,
                     bpx: Path | None = None, check_dir: Path | None = None,
                     validation: str | os.PathLike | None = None, allow_unvalidated: bool = False,
                     keep_unchecked: bool = False, on_written: Callable[[ExportRun], Any] | None = None) -> ExportRun:
    """Export ``analyses`` to ``out`` (and ``bpx``), then with ``check_dir`` check it in PyBaMM there.

    Raises :class:`~md_runs.export.gate.UnvalidatedExport` (nothing written) for parameters of
    failed phases or melted runs unless ``allow_unvalidated``. ``on_written`` is called with the
    run once the export is written, before the (long) check.
    """
    cfg = cfg or ExportConfig()
    doc = build_export(analyses, base=cfg.base, reference_temperature_K=cfg.reference_temperature_K,
                       sei_phase=cfg.sei_phase, sei_option=cfg.sei_option, validation=validation,
                       allow_unvalidated=allow_unvalidated)
    cfg = resolved_config(cfg, doc)
    check_error = None
    if check_dir is not None:  # fail before writing anything when the check cannot run
        try:
            checkable_option(doc, None)
            make_experiment(cfg.check.cycle, 1)
        except UserError as exc:
            if not keep_unchecked:
                raise
            check_error = str(exc)
    path = write_export(doc, out, bpx)
    dump_config(cfg, path.with_name(path.stem + ".config.yaml"))
    run = ExportRun(path, bpx, doc, cfg, check_dir, check_error=check_error)
    if on_written is not None:
        on_written(run)
    if check_dir is None or check_error is not None:
        return run
    c = cfg.check
    try:
        run.check = check_pybamm(path, check_dir, model=c.model, sei_option=doc["sei_option"], cycle=c.cycle,
                                 cycles=c.cycles, samples=c.samples, seed=c.seed)
    except UserError as exc:  # PyBaMM cannot run these parameters at all
        if not keep_unchecked:
            raise
        run.check_error = str(exc)
        return run
    dump_config(cfg, Path(check_dir) / "config.yaml")
    return run
