"""The analysis result contract: one JSON file per analysis, values with uncertainty and provenance.

Every analysis (species, profiles, diffusion, conductivity, Arrhenius, density) saves an
:class:`AnalysisResult` as ``<name>.json`` (and a PNG beside it). The PyBaMM exporter and the
quickstart report read these files only through :func:`load_result`, so the names below are the
interface between MD analysis and continuum export.

Quantities are SI unless the unit says otherwise. Names the exporter understands:

==============================  ==========  ==================================================
name                            unit        meaning
==============================  ==========  ==================================================
``li_diffusivity``              m2/s        Li self-diffusion coefficient (tracer), at ``temperature_K``
``li_concentration``            mol/m3      Li number density of the phase / region
``solvent_diffusivity``         m2/s        EC (solvent) self-diffusion coefficient
``solvent_concentration``       mol/m3      EC concentration in the bulk electrolyte
``li_conductivity``             S/m         Li-ion conductivity (Nernst-Einstein or Einstein-Helfand)
``haven_ratio``                 1           D_tracer / D_sigma
``activation_energy``           J/mol       Arrhenius activation energy (of ``of``: the quantity fitted)
``density``                     kg/m3       mass density from an NPT run
``partial_molar_volume``        m3/mol      molar volume per formula unit of an SEI phase
``li_to_sei_ratio``             1           Li moles per mole of SEI formula units (LiF: 1, Li2O: 2 ...)
``sei_thickness``               m           SEI thickness (last frame or fit)
``sei_growth_rate``             m/s or m2/s linear rate (m/s) or parabolic constant (m2/s); see ``law``
==============================  ==========  ==================================================
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlip.errors import UserError
from mlip.utils import read_json_document, write_json_atomic

SCHEMA = "seimlip.analysis/1"


@dataclass
class Quantity:
    """A value with its standard deviation (``std`` is None when no error estimate exists)."""

    mean: float
    std: float | None
    unit: str
    method: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. temperature_K, region, phase, law

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", {}) or k in ("mean", "std", "unit")}


@dataclass
class AnalysisResult:
    """One analysis of one run (or of several runs, e.g. an Arrhenius fit over temperatures).

    ``quantities`` maps a name (see the module table) to a :class:`Quantity`, or to a list of them
    when the analysis gives the same quantity for several regions/temperatures. ``tables`` holds
    arrays for plots (lists of numbers, keyed by column name). ``provenance`` names the model
    (path and sha256), the run directories, temperatures, time windows and the seimlip version.
    """

    kind: str
    quantities: dict[str, Quantity | list[Quantity]] = field(default_factory=dict)
    tables: dict[str, dict[str, list]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def q(v):
            return [x.to_json() for x in v] if isinstance(v, list) else v.to_json()

        return {"schema": SCHEMA, "kind": self.kind,
                "quantities": {k: q(v) for k, v in self.quantities.items()},
                "tables": self.tables, "provenance": self.provenance, "plots": self.plots}

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        write_json_atomic(path, self.to_json())
        return path

    def get(self, name: str, **meta) -> Quantity:
        """The quantity ``name`` whose meta matches ``meta`` (first match); a clear error if absent."""
        value = self.quantities.get(name)
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            if all(item.meta.get(k) == v for k, v in meta.items()):
                return item
        where = f" with {meta}" if meta else ""
        raise UserError(f"analysis '{self.kind}' has no quantity '{name}'{where}", self.provenance.get("path"))



def _quantity(data: dict[str, Any], where: str) -> Quantity:
    try:
        mean = data["mean"]
        std = data.get("std")
        if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
            raise UserError("quantity has no finite mean", where)
        return Quantity(float(mean), None if std is None else float(std), str(data["unit"]),
                        str(data.get("method", "")), dict(data.get("meta", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"malformed quantity ({exc})", where) from None


def load_result(path: str | os.PathLike) -> AnalysisResult:
    """Read an analysis JSON written by :meth:`AnalysisResult.save`; one clear error if it is not one."""
    path = Path(path)
    data = read_json_document(path, "analysis result", SCHEMA)
    quantities: dict[str, Quantity | list[Quantity]] = {}
    for name, value in (data.get("quantities") or {}).items():
        where = f"{path}: {name}"
        quantities[name] = ([_quantity(v, where) for v in value] if isinstance(value, list)
                            else _quantity(value, where))
    provenance = dict(data.get("provenance") or {})
    provenance.setdefault("path", str(path))
    return AnalysisResult(str(data.get("kind", "")), quantities, dict(data.get("tables") or {}),
                          provenance, list(data.get("plots") or []))
