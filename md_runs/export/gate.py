"""The validation gate of the export: no PyBaMM parameter from a melted crystal or a failed phase.

An exported parameter is refused (one-line :class:`UnvalidatedExport`, nothing written) when

- a run it comes from melted or amorphised (``melted`` in the analysed quantity's meta, set by
  ``seimlip analyze`` from the run's crystallinity: :mod:`md_runs.analysis.crystallinity`), or
- a ``validation.json`` (``seimlip validate``) is given and the phase the parameter belongs to
  (the SEI phase, ``electrolyte``, or ``interface`` for interface runs) failed a row there.

With ``allow_unvalidated`` the parameter is exported anyway and marked: ``validated: false`` and
an ``UNVALIDATED: ...`` note in its provenance, and the document's ``validation.unvalidated``
lists it (the PyBaMM check and the quickstart report repeat the marks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlip.errors import UserError


class UnvalidatedExport(UserError):
    """An export refused by the gate (a UserError: one line, exit 2)."""


def _phase_of(entry: dict) -> str:
    prov = entry.get("provenance", {})
    region = prov.get("region")
    if region == "sei" or (region == "unknown" and prov.get("phase")):
        return str(prov.get("phase") or "SEI")
    if region == "electrolyte":
        return "electrolyte"
    if region in ("mixed", "metal"):
        return "interface"
    return str(prov.get("phase") or region or "unknown")


def _model_shas(entry: dict) -> set[str]:
    return {p.get("model_sha256") for p in entry.get("provenance", {}).get("source_provenance", [])
            if p.get("model_sha256")}


def apply_gate(uncertainty: dict[str, dict], validation: dict | None, allow_unvalidated: bool) -> dict[str, Any]:
    """Refuse or mark every entry of ``uncertainty`` that fails the gate; return the summary
    written into the export document (``validation``)."""
    reasons: dict[str, list[str]] = {}
    for name, entry in uncertainty.items():
        prov = entry.get("provenance", {})
        for run in prov.get("melted_runs", []):
            reasons.setdefault(name, []).append(f"its run melted: {run}")
        if validation is not None:
            phase = _phase_of(entry)
            verdict = validation["phases"].get(phase)
            if verdict and verdict.get("passed") is False:
                failed = verdict.get("failed", [])
                reasons.setdefault(name, []).append(
                    f"{phase} failed validation ({'; '.join(failed[:3])}{' ...' if len(failed) > 3 else ''})")
    summary: dict[str, Any] = {
        "validation": validation.get("path") if validation else None,
        "model_validated": None if validation is None else validation["model"].get("name"),
        "suite": None if validation is None else validation.get("suite"),
        "allow_unvalidated": bool(allow_unvalidated),
        "unvalidated": {k: v for k, v in reasons.items()},
    }
    if validation is None:
        summary["note"] = "no validation.json given (seimlip validate MODEL; --validation FILE)"
    if reasons and not allow_unvalidated:
        name, why = next(iter(reasons.items()))
        more = f" (and {len(reasons) - 1} more parameter(s))" if len(reasons) > 1 else ""
        raise UnvalidatedExport(f"refusing to export '{name}': {why[0]}{more}; rerun with --allow-unvalidated "
                                "to export it marked as unvalidated")
    for name, why in reasons.items():
        entry = uncertainty[name]
        entry["validated"] = False
        entry["provenance"].setdefault("notes", []).append("UNVALIDATED: " + "; ".join(why))
    for name, entry in uncertainty.items():
        entry.setdefault("validated", True if validation is not None else None)
    return summary


def load_gate_validation(path: str | Path | None, uncertainty: dict[str, dict]) -> dict | None:
    """The validation document at ``path`` (None: none given), checked to be for the analysed model."""
    if path is None:
        return None
    from md_runs.validation.outputs import load_validation

    doc = load_validation(path)
    sha = doc["model"].get("sha256")
    used = set().union(*(_model_shas(e) for e in uncertainty.values())) if uncertainty else set()
    if sha and used and sha not in used:
        raise UserError(f"validation is of model {doc['model'].get('name')} (sha256 {sha[:12]}), the analysed runs "
                        f"used another model (sha256 {', '.join(s[:12] for s in sorted(used))})", str(path))
    return doc
