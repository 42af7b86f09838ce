"""``export_pybamm``: analysis results -> a JSON PyBaMM parameter file (+ optional BPX).

The file (schema ``seimlip.pybamm-export/1``)::

    {"base": "OKane2022", "reference_temperature_K": 298.15, "sei_option": ...,
     "parameters": {name: mean}, "uncertainty": {name: {mean, std, unit, log_std, provenance}},
     "not_provided": {name: reason}, "validation": {...},
     "plausibility": {name: {value, base_value, plausible_range, decades_from_base, plausible, warning?}},
     "provenance": {...}}

:func:`load_parameter_values` applies ``parameters`` on top of ``pybamm.ParameterValues(base)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from md_runs.export import names as N
from md_runs.export.inputs import load_inputs, read_points, select_sei_phase
from md_runs.export.parameters import map_parameters
from mlip.errors import UserError
from mlip.utils import atomic_path, json_text, provenance, read_json_document, write_text_atomic

EXPORT_SCHEMA = "seimlip.pybamm-export/1"


def base_parameter_values(base: str):
    """``pybamm.ParameterValues(base)``, or a one-line error naming the known sets."""
    import pybamm

    if base not in pybamm.parameter_sets:
        raise UserError(f"unknown PyBaMM parameter set '{base}' (e.g. OKane2022, Chen2020)")
    return pybamm.ParameterValues(base)


def build_export(analysis_paths: list[str | os.PathLike], *, base: str = "OKane2022",
                 reference_temperature_K: float | None = None, sei_phase: str | None = None,
                 sei_option: str | None = None, validation: str | os.PathLike | None = None,
                 allow_unvalidated: bool = False) -> dict[str, Any]:
    """The export document (see the module docstring) without writing anything.

    The validation gate (:mod:`md_runs.export.gate`) refuses a parameter from a run that melted, or
    of a phase that failed ``validation`` (a validation.json), unless ``allow_unvalidated``.
    """
    results = load_inputs(analysis_paths)
    base_values = base_parameter_values(base)
    base_t_ref = float(base_values[N.T_REF])
    t_ref = base_t_ref if reference_temperature_K is None else float(reference_temperature_K)
    if not t_ref > 0:
        raise UserError(f"reference temperature must be positive, got {t_ref:g} K")
    points, phase = select_sei_phase(read_points(results), sei_phase)
    known = {q for r in results for q in r.quantities}
    mapped = map_parameters(points, t_ref, sei_option, known)
    from md_runs.export.gate import apply_gate, load_gate_validation

    gate = apply_gate(mapped.uncertainty, load_gate_validation(validation, mapped.uncertainty), allow_unvalidated)
    parameters = mapped.parameters
    from md_runs.export.plausibility import judge_all

    plausibility = judge_all(parameters, base_values)
    for name, verdict in plausibility.items():
        if verdict.get("warning"):
            mapped.uncertainty[name]["provenance"]["notes"].append(verdict["warning"])
    if t_ref != base_t_ref:
        parameters[N.T_REF] = t_ref
    used = {e["provenance"]["quantity"] for e in mapped.uncertainty.values()}
    return {
        "schema": EXPORT_SCHEMA, "base": base, "reference_temperature_K": t_ref,
        "sei_option": mapped.sei_option, "sei_phase": phase,
        "parameters": parameters, "uncertainty": mapped.uncertainty,
        "not_provided": mapped.not_provided, "validation": gate, "plausibility": plausibility,
        "provenance": {"analyses": [r.provenance.get("path") for r in results],
                       "kinds": sorted({r.kind for r in results}),
                       "unused_quantities": sorted(known - used),
                       "base_reference_temperature_K": base_t_ref, **provenance()},
    }


def export_pybamm(analysis_paths: list[Path], out: Path, *, base: str = "OKane2022",
                  bpx: Path | None = None, reference_temperature_K: float | None = None,
                  sei_phase: str | None = None, sei_option: str | None = None,
                  validation: str | os.PathLike | None = None, allow_unvalidated: bool = False) -> Path:
    """Write the PyBaMM export of ``analysis_paths`` to ``out`` (and a BPX file to ``bpx``)."""
    doc = build_export(analysis_paths, base=base, reference_temperature_K=reference_temperature_K,
                       sei_phase=sei_phase, sei_option=sei_option, validation=validation,
                       allow_unvalidated=allow_unvalidated)
    return write_export(doc, out, bpx)


def write_export(doc: dict[str, Any], out: Path, bpx: Path | None = None) -> Path:
    """Write an export document (and its BPX file, validated first); nothing is written on error."""
    text = json_text(doc)
    bpx_text = None
    if bpx is not None:
        from md_runs.export.bpx_file import bpx_document, validate_bpx

        bpx_doc = bpx_document(doc)
        validate_bpx(bpx_doc)
        bpx_text = json_text(bpx_doc)
    out = Path(out)
    with atomic_path(out) as tmp:  # out appears only once the BPX file is written too
        tmp.write_text(text)
        if bpx_text is not None:
            write_text_atomic(Path(bpx), bpx_text)
    return out


def read_export(path: str | os.PathLike) -> dict[str, Any]:
    """The export document at ``path``; one clear error if it is not one."""
    return read_json_document(path, "PyBaMM export", EXPORT_SCHEMA)


def load_parameter_values(path: str | os.PathLike, overrides: dict[str, float] | None = None):
    """``pybamm.ParameterValues`` of the export's base set with the exported values applied."""
    doc = read_export(path)
    values = base_parameter_values(doc["base"])
    values.update({**doc["parameters"], **(overrides or {})}, check_already_exists=False)
    return values
