"""Read the analysis results an export starts from: files or folders, units, regions, SEI phase."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from md_runs.analysis.result import SCHEMA, AnalysisResult, Quantity, load_result
from mlip.errors import UserError, first_line

#: contract unit of each quantity the exporter reads, and accepted spellings -> factor to it.
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "li_diffusivity": ("m2/s", {"m2/s": 1.0, "m2.s-1": 1.0, "m^2/s": 1.0, "cm2/s": 1e-4,
                                "A2/ps": 1e-8, "Å2/ps": 1e-8}),
    "li_interstitial_diffusivity": ("m2/s", {"m2/s": 1.0, "m2.s-1": 1.0, "m^2/s": 1.0, "cm2/s": 1e-4,
                                             "A2/ps": 1e-8, "Å2/ps": 1e-8}),
    "solvent_diffusivity": ("m2/s", {"m2/s": 1.0, "m2.s-1": 1.0, "m^2/s": 1.0, "cm2/s": 1e-4,
                                     "A2/ps": 1e-8, "Å2/ps": 1e-8}),
    "li_concentration": ("mol/m3", {"mol/m3": 1.0, "mol.m-3": 1.0, "mol/m^3": 1.0, "mol/L": 1e3,
                                    "M": 1e3}),
    "li_interstitial_concentration": ("mol/m3", {"mol/m3": 1.0, "mol.m-3": 1.0, "mol/m^3": 1.0, "mol/L": 1e3,
                                                 "M": 1e3}),
    "solvent_concentration": ("mol/m3", {"mol/m3": 1.0, "mol.m-3": 1.0, "mol/m^3": 1.0,
                                         "mol/L": 1e3, "M": 1e3}),
    "li_conductivity": ("S/m", {"S/m": 1.0, "S.m-1": 1.0, "mS/cm": 0.1, "S/cm": 100.0}),
    "activation_energy": ("J/mol", {"J/mol": 1.0, "J.mol-1": 1.0, "kJ/mol": 1e3,
                                    "eV": 96485.33212}),
    "partial_molar_volume": ("m3/mol", {"m3/mol": 1.0, "m3.mol-1": 1.0, "m^3/mol": 1.0,
                                        "cm3/mol": 1e-6}),
    "li_to_sei_ratio": ("1", {"1": 1.0, "": 1.0, "-": 1.0, "dimensionless": 1.0}),
    "sei_thickness": ("m", {"m": 1.0, "nm": 1e-9, "A": 1e-10, "Å": 1e-10}),
}

ELECTROLYTE_WORDS = {"electrolyte", "bulk", "bulk_electrolyte", "liquid", "solvent", "ec", "dmc",
                     "ec-dmc", "ec/dmc", "lipf6"}
METAL_WORDS = {"metal", "li_metal", "li-metal", "lithium", "li", "anode", "slab", "li(bcc)"}
#: bulk SEI phases (md_runs.builders.SEI_PHASES and common others): a run of one of these is SEI.
SEI_PHASE_NAMES = {"LiF", "Li2O", "Li2CO3", "LEDC", "Li2EDC", "LiOH", "Li2C2O4", "Li3PO4", "LixPOyFz"}


@dataclass
class Point:
    """One value of one quantity, in contract units, with where it came from."""

    name: str
    mean: float
    std: float | None
    region: str            # "sei", "electrolyte", "metal", "mixed" (whole interface) or "unknown"
    phase: str | None      # SEI phase (formula unit) when known
    system: str | None     # the run's system (RunInfo.system)
    temperature_K: float | None
    quantity: Quantity
    result: AnalysisResult
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return str(self.result.provenance.get("path", ""))


def result_files(paths: Iterable[str | Path]) -> list[Path]:
    """The analysis JSON files named by ``paths`` (files, or every result JSON below a folder)."""
    files: list[Path] = []
    paths = list(paths)
    if not paths:
        raise UserError("no analysis files given (expected result JSON files or folders)")
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.json") if not f.name.startswith(".") and _is_result_file(f))
            if not found:
                raise UserError(f"no analysis result JSON ({SCHEMA}) below this folder", str(p))
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise UserError("analysis file not found", str(p))
    return list(dict.fromkeys(f.resolve() for f in files))


def _is_result_file(path: Path) -> bool:
    """Whether a JSON file below an analysis folder is a result; one that cannot be read or parsed
    is an error naming it (skipping it silently would change the export). Hidden files (the
    temporary files of an interrupted atomic write) are not looked at."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"unreadable JSON file in the analysis folder ({type(exc).__name__}: {first_line(exc, 80)})",
                        str(path)) from None
    return isinstance(data, dict) and data.get("schema") == SCHEMA


def classify_region(meta: dict[str, Any], provenance: dict[str, Any]) -> tuple[str, str | None]:
    """(region class, SEI phase) of a quantity from its meta (region, phase) and the run's system.

    A named region wins (``electrolyte``/``slab``/``sei...``); a whole-run value (region ``all`` or
    none) is SEI for a bulk SEI-phase run, mixed for an interface run (system ``li100|EC``), and
    unknown otherwise.
    """
    region = str(meta.get("region") or "").strip().lower()
    system = str(meta.get("system") or provenance.get("system") or "").strip()
    phase = meta.get("phase") or meta.get("formula_unit") or provenance.get("formula_unit")
    if region in ELECTROLYTE_WORDS:
        return "electrolyte", None
    if region in METAL_WORDS:
        return "metal", None
    named = {p.lower(): p for p in SEI_PHASE_NAMES}
    if region.startswith("sei") or region in named:
        return "sei", phase or named.get(region)
    if region not in ("", "all"):
        return "unknown", phase
    if phase or system in SEI_PHASE_NAMES:
        return "sei", str(phase or system)
    if "|" in system:
        return "mixed", None
    if system.lower() in ELECTROLYTE_WORDS or provenance.get("liquid") is True:
        return "electrolyte", None
    return "unknown", None


def read_points(results: list[AnalysisResult]) -> list[Point]:
    """Every quantity the exporter understands, converted to contract units."""
    points: list[Point] = []
    for result in results:
        for name, value in result.quantities.items():
            if name not in UNITS:
                continue
            for q in value if isinstance(value, list) else [value]:
                unit, factors = UNITS[name]
                key = q.unit.strip().replace(" ", "")
                if key not in factors:
                    raise UserError(f"quantity '{name}' has unit '{q.unit}'; expected {unit}",
                                    result.provenance.get("path"))
                f = factors[key]
                temp = q.meta.get("temperature_K", result.provenance.get("temperature_K"))
                region, phase = classify_region(q.meta, result.provenance)
                system = q.meta.get("system") or result.provenance.get("system")
                points.append(Point(name, q.mean * f, None if q.std is None else abs(q.std) * f,
                                    region, phase, system, None if temp is None else float(temp),
                                    q, result, dict(q.meta)))
    return points


def select_sei_phase(points: list[Point], sei_phase: str | None) -> tuple[list[Point], str | None]:
    """Keep one SEI phase: the only one present, or ``sei_phase``; a clear error if ambiguous."""
    phases = sorted({p.phase for p in points if p.region == "sei" and p.phase})
    if sei_phase is None:
        if len(phases) > 1:
            raise UserError(f"the analyses cover several SEI phases ({', '.join(phases)}); choose "
                            "one with --sei-phase (or sei_phase in --config)")
        return points, (phases[0] if phases else None)
    if sei_phase not in phases:
        raise UserError(f"SEI phase '{sei_phase}' is not in the analyses (phases found: "
                        f"{', '.join(phases) or 'none'})")
    return [p for p in points if p.region != "sei" or p.phase in (None, sei_phase)], sei_phase


def load_inputs(paths: Iterable[str | Path]) -> list[AnalysisResult]:
    return [load_result(f) for f in result_files(paths)]
