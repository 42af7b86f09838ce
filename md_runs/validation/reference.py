"""The reference file: the reference method's own numbers and experimental values, with provenance.

One JSON document (schema ``seimlip.validation-reference/1``; shipped:
``md_runs/validation/reference_gfn1.json``)::

    {"schema": ..., "reference_method": {method, code, settings, cell_sizes, versions, date, status,
                                         remaining},
     "experiment": {system: {quantity: {value, range?, unit, temperature_K?, source, note?}}},
     "values": {"eos": {phase: {...}}, "migration": {defect: {...}}, "surfaces": {name: {...}},
                "adsorption": {name: {...}}}}

``seimlip validate`` only reads it (it never fits to it). ``seimlip validate --recompute-reference``
fills ``values`` with :func:`md_runs.validation.recompute.recompute`, which takes a *calculator
factory* for the reference method (``active_learning`` builds it from ``TBLiteOracle``;
:mod:`md_runs` imports no oracle).

Cell sizes: tblite has no k-points, so every reference number is computed on a structure
(perfect cell, defect cell, slab, adsorbate coverage) *tiled* n1 x n2 x n3 times; a tiling by n is
exactly the structure sampled on an n-grid of k-points (:class:`TiledCalculator`), and the tilings
are those the convergence study found converged for each family.

Resuming: every reference calculation goes through :class:`CachedCalculator`, which appends each
result to a JSON-lines cache keyed by the exact structure (see :mod:`.recompute`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from mlip.errors import UserError
from mlip.utils import read_json_document

SCHEMA = "seimlip.validation-reference/1"
SHIPPED = Path(__file__).resolve().parent / "reference_gfn1.json"
CalcFactory = Callable[[], Calculator]


# --- reading ------------------------------------------------------------------------------------
class Reference:
    """A reference document read back (see the module docstring)."""

    def __init__(self, data: dict, path: Path):
        self.data, self.path = data, path

    @property
    def method(self) -> dict:
        return dict(self.data.get("reference_method") or {})

    @property
    def method_name(self) -> str:
        m = self.method
        return str(m.get("method") or "reference method")

    def experiment(self, system: str, quantity: str) -> dict | None:
        value = (self.data.get("experiment") or {}).get(system, {}).get(quantity)
        return dict(value) if isinstance(value, dict) and value.get("value") is not None else None

    def value(self, section: str, key: str) -> dict | None:
        value = (self.data.get("values") or {}).get(section, {}).get(key)
        return dict(value) if isinstance(value, dict) else None


def load_reference(path: str | os.PathLike | None = None) -> Reference:
    """The reference document at ``path`` (default: the shipped GFN1-xTB file); one-line errors."""
    path = Path(path) if path is not None else SHIPPED
    data = read_json_document(path, "validation reference", SCHEMA)
    for key in ("experiment", "values", "reference_method"):
        if key in data and not isinstance(data[key], dict):
            raise UserError(f"'{key}' must be a mapping", str(path))
    return Reference(data, path)


# --- calculators for the reference method --------------------------------------------------------
def structure_key(atoms: Atoms, tag: str = "") -> str:
    h = hashlib.sha256()
    h.update(tag.encode())
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(atoms.positions, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(np.array(atoms.cell), dtype=np.float64).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    return h.hexdigest()


class ResultCache:
    """Append-only JSON-lines store of calculator results keyed by :func:`structure_key`.

    A killed writer can leave a torn last line; it is skipped on reading (that one calculation is
    simply done again).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, results: dict) -> None:
        entry = {"key": key, **{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in results.items()}}
        self.entries[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class CachedCalculator(Calculator):
    """Energy, forces and stress of ``inner`` (made on first use), remembered in ``cache``."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, factory: CalcFactory, cache: ResultCache, tag: str = "", **kwargs):
        super().__init__(**kwargs)
        self.factory, self.cache, self.tag = factory, cache, tag
        self._inner: Calculator | None = None
        self.calls = 0
        self.hits = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        key = structure_key(self.atoms, self.tag)
        entry = self.cache.get(key)
        if entry is None:
            if self._inner is None:
                self._inner = self.factory()
            work = self.atoms.copy()
            work.calc = self._inner
            e = float(work.get_potential_energy())
            f = np.asarray(work.get_forces(), dtype=float)
            s = np.asarray(work.get_stress(voigt=True), dtype=float) if work.pbc.all() else np.zeros(6)
            entry = {"energy": e, "forces": f, "stress": s}
            self.cache.put(key, entry)
            self.calls += 1
        else:
            self.hits += 1
        self.results["energy"] = self.results["free_energy"] = float(entry["energy"])
        self.results["forces"] = np.asarray(entry["forces"], dtype=float)
        self.results["stress"] = np.asarray(entry["stress"], dtype=float)


class TiledCalculator(Calculator):
    """k-point convergence for a Γ-point method: evaluate ``atoms`` repeated ``tiling`` times.

    Energy = E(tiled) / n_tiles, forces = those of the first copy (every copy carries the same by
    symmetry), stress = the tiled cell's (intensive). A tiling by n is the structure on an n-grid of
    k-points including Γ.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner: Calculator, tiling: tuple[int, int, int], **kwargs):
        super().__init__(**kwargs)
        self.inner, self.tiling = inner, tuple(int(t) for t in tiling)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n_tiles = int(np.prod(self.tiling))
        big = self.atoms.repeat(self.tiling) if n_tiles > 1 else self.atoms.copy()
        big.calc = self.inner
        e = float(big.get_potential_energy())
        f = np.asarray(big.get_forces(), dtype=float)[: len(self.atoms)]
        self.results["energy"] = self.results["free_energy"] = e / n_tiles
        self.results["forces"] = f
        if self.atoms.pbc.all():
            self.results["stress"] = np.asarray(big.get_stress(voigt=True), dtype=float)
