"""The reference method as an ASE calculator, for ``seimlip validate --recompute-reference``.

:mod:`md_runs.validation` computes reference numbers with any calculator factory it is given
(it imports no oracle: DESIGN.md's import directions). This module makes that factory from an
oracle, so the validation reference is computed by exactly the code that labels the training
data: ``TBLiteOracle(TBLiteConfig(...))`` (GFN1-xTB by default), fully periodic, Γ point, with its
convergence checks. An oracle failure (SCF not converged ...) raises :class:`ReferenceFailure`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlip.errors import UserError

#: where the convergence study of the reference data v2 writes its results (read, never written)
DATASET_V2 = Path(__file__).resolve().parent.parent / "datasets" / "li_ec_gfn1_v2"


class ReferenceFailure(RuntimeError):
    """The oracle could not label a structure (its one-line reason)."""


class OracleCalculator(Calculator):
    """Energy (force-consistent), forces and stress of ``oracle.label(atoms)``."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, oracle, **kwargs):
        super().__init__(**kwargs)
        self.oracle = oracle

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        res = self.oracle.label(self.atoms)
        if not res.ok:
            raise ReferenceFailure(f"{self.oracle.name}: {res.reason} ({len(self.atoms)} atoms)")
        out = res.atoms
        self.results["energy"] = self.results["free_energy"] = float(out.info["energy"])
        self.results["forces"] = np.asarray(out.arrays["forces"], dtype=float)
        self.results["stress"] = np.asarray(out.info["stress"], dtype=float)


def read_oracle_settings(path: Path | None = None) -> dict[str, Any]:
    """The reference settings chosen by the convergence study (``oracle.yaml``), if it exists.

    Returns the tblite config fields (``method``, ``electronic_temperature`` ...); {} when there is
    no such file. Accepts ``{oracle: {kind: tblite, ...}}`` or the fields at the top level.
    """
    from mlip.config import read_yaml

    path = Path(path) if path is not None else DATASET_V2 / "oracle.yaml"
    if not path.is_file():
        return {}
    data = read_yaml(path)
    block = data.get("oracle", data)
    if not isinstance(block, dict):
        raise UserError("'oracle' must be a mapping", str(path))
    return {k: v for k, v in block.items() if k in ("kind", "method", "accuracy", "electronic_temperature",
                                                    "max_iterations")}


def tblite_factory(settings: dict[str, Any] | None = None) -> tuple[Callable[[], Calculator], dict[str, Any]]:
    """(calculator factory, description for the reference file's provenance) of GFN1-xTB."""
    from active_learning.oracles.config import TBLiteConfig, fingerprint, parse_oracle_config

    cfg = parse_oracle_config({"kind": "tblite", **(settings or {})}, "reference oracle")
    if not isinstance(cfg, TBLiteConfig):
        raise UserError("the validation reference is computed with the tblite oracle", "reference oracle")

    def make() -> Calculator:
        from active_learning.oracles.tblite import TBLiteOracle

        return OracleCalculator(TBLiteOracle(cfg))

    fields = cfg.model_dump(mode="json")
    method = {"method": cfg.method, "code": "tblite",
              "calculator": f"TBLiteOracle(TBLiteConfig({', '.join(f'{k}={v!r}' for k, v in fields.items() if v is not None and k != 'kind')}))",
              "settings": {k: v for k, v in fields.items() if v is not None},
              "electronic_temperature_K": cfg.electronic_temperature if cfg.electronic_temperature is not None else 300.0,
              "oracle_fingerprint": fingerprint(cfg)}
    return make, method
