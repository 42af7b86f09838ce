"""The reference file: the reference method's own numbers and experimental values, with provenance.

One JSON document (schema ``seimlip.validation-reference/1``; shipped:
``md_runs/validation/reference_gfn1.json``)::

    {"schema": ..., "reference_method": {method, code, settings, cell_sizes, versions, date, status,
                                         remaining},
     "experiment": {system: {quantity: {value, range?, unit, temperature_K?, source, note?}}},
     "values": {"eos": {phase: {...}}, "migration": {defect: {...}}, "surfaces": {name: {...}},
                "adsorption": {name: {...}}}}

``seimlip validate`` only reads it (it never fits to it). ``seimlip validate --recompute-reference``
fills ``values`` with :func:`recompute`, which takes a *calculator factory* for the reference
method (``active_learning`` builds it from ``TBLiteOracle``; :mod:`md_runs` imports no oracle).

Cell sizes: tblite has no k-points, so every reference number is computed on a structure
(perfect cell, defect cell, slab, adsorbate coverage) *tiled* n1 x n2 x n3 times; a tiling by n is
exactly the structure sampled on an n-grid of k-points (:class:`TiledCalculator`), and the tilings
are those the convergence study found converged for each family.

Resuming: every reference calculation goes through :class:`CachedCalculator`, which appends each
result to a JSON-lines cache keyed by the exact structure. Relaxations and NEB runs are
deterministic, so a restarted task replays its finished steps from the cache in seconds and
continues where it stopped; finished tasks are written into the output JSON (atomically) one by
one, so an interrupted recompute leaves a valid, partial file (``status: partial``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from pydantic import Field

from mlip.config import StrictModel
from mlip.errors import UserError
from mlip.utils import provenance, read_json_document, write_text_atomic

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


# --- what the recompute does ----------------------------------------------------------------------
Tiling = tuple[int, int, int]


class ReferenceSettings(StrictModel):
    """Cells and convergence settings of ``--recompute-reference`` (``reference:`` in --config)."""

    #: per phase: the tiling of the *unit* cell whose energies enter the E(V) fit, and (Li2CO3)
    #: the tiling in which positions and cell shape are relaxed at each volume
    eos_tiling: dict[str, Tiling] = Field(default_factory=lambda: {
        "Li": (6, 6, 6), "LiF": (3, 3, 3), "Li2O": (3, 3, 3), "Li2CO3": (2, 3, 2)})
    eos_relax_tiling: dict[str, Tiling] = Field(default_factory=lambda: {"Li2CO3": (1, 2, 2)})
    eos_search_volume_ratio: tuple[float, float] = (0.8, 1.35)
    eos_search_points: int = Field(5, ge=5)
    eos_fit_span: float = Field(0.06, gt=0, lt=0.5)
    eos_fit_points: int = Field(7, ge=5)
    eos_relax_fmax: float = Field(0.03, gt=0)
    eos_relax_steps: int = Field(80, ge=1)
    #: LiF defect cell (conventional cells) relaxed at Γ (forces converge at 64 atoms), images
    #: evaluated in this tiling of it
    migration_repeat: Tiling = (2, 2, 2)
    migration_energy_tiling: Tiling = (2, 2, 2)
    migration_images: int = Field(3, ge=1)
    migration_fmax: float = Field(0.05, gt=0)
    migration_steps: int = Field(150, ge=1)
    #: slabs (the convergence study's bases: (100) 2x2 x 6 layers, (110) 2x2 x 5 layers) relaxed
    #: and evaluated in this lateral tiling
    slab_size: tuple[int, int] = (2, 2)
    slab_layers: dict[str, int] = Field(default_factory=lambda: {"100": 6, "110": 5})
    slab_tiling: Tiling = (3, 3, 1)
    slab_vacuum: float = 12.0
    adsorption_size: tuple[int, int] = (3, 3)
    adsorption_layers: int = 4
    adsorption_tiling: Tiling = (2, 2, 1)
    relax_fmax: float = Field(0.05, gt=0)
    relax_steps: int = Field(100, ge=1)
    tasks: list[str] = Field(default_factory=lambda: [
        "eos:LiF", "eos:Li2O", "migration:vacancy", "migration:interstitial", "eos:Li", "eos:Li2CO3",
        "surface:100", "surface:110", "adsorption:EC_Li100"])


def _tiled(factory: CalcFactory, cache: ResultCache, tiling: Tiling, tag: str) -> CalcFactory:
    def make() -> Calculator:
        inner = CachedCalculator(factory, cache, tag=f"{tag}|{'x'.join(map(str, tiling))}")
        return TiledCalculator(inner, tiling) if np.prod(tiling) > 1 else inner

    return make


def _size(atoms_n: int, tiling: Tiling) -> str:
    return f"{'x'.join(map(str, tiling))} tiling of a {atoms_n}-atom cell ({atoms_n * int(np.prod(tiling))} atoms)"


def _run_task(task: str, factory: CalcFactory, cache: ResultCache, s: ReferenceSettings, doc: dict,
              tag: str, progress: Callable[[str], None]) -> tuple[str, str, dict]:
    from md_runs.validation import migration, surfaces
    from md_runs.validation.eos import eos_scan, phase_cell

    kind, _, name = task.partition(":")
    values = doc.setdefault("values", {})

    def a0_li() -> float:
        eos = values.get("eos", {}).get("Li")
        if not eos:
            raise UserError(f"{task} needs eos:Li first (put it earlier in reference.tasks)")
        return float(eos["a0_A"])

    if kind == "eos":
        tiling = tuple(s.eos_tiling.get(name, (1, 1, 1)))
        relax_tiling = s.eos_relax_tiling.get(name)
        energy_factory = _tiled(factory, cache, tiling, tag)
        calc_factory = _tiled(factory, cache, tuple(relax_tiling), tag) if relax_tiling else energy_factory
        res = eos_scan(name, calc_factory, search_volume_ratio=s.eos_search_volume_ratio,
                       search_points=s.eos_search_points, fit_span=s.eos_fit_span, fit_points=s.eos_fit_points,
                       relax_fmax=s.eos_relax_fmax, relax_steps=s.eos_relax_steps,
                       energy_factory=energy_factory if relax_tiling else None, progress=progress)
        out = res.to_json()
        n = len(phase_cell(name))
        out["cell_size"] = _size(n, tiling)
        if relax_tiling:
            out["relax_cell_size"] = _size(n, tuple(relax_tiling))
        return "eos", name, out
    if kind == "migration":
        a0 = (values.get("eos", {}).get("LiF") or {}).get("a0_A")
        if a0 is None:
            raise UserError(f"{task} needs eos:LiF first")
        gamma = _tiled(factory, cache, (1, 1, 1), tag)
        res = migration.barrier(name, gamma, float(a0), repeat=s.migration_repeat, images=s.migration_images,
                                fmax=s.migration_fmax, steps=s.migration_steps, progress=progress)
        out = res.to_json()
        out["gamma_barrier_eV"] = out["barrier_eV"]
        out["gamma_energies_eV"] = out["energies_eV"]
        if np.prod(s.migration_energy_tiling) > 1:
            energies = migration.path_energies(res.images, _tiled(factory, cache, s.migration_energy_tiling, tag))
            out["energies_eV"] = energies
            out["barrier_eV"] = float(max(energies))
        out["repeat"] = list(s.migration_repeat)
        out["energy_tiling"] = list(s.migration_energy_tiling)
        out["cell_size"] = (f"path relaxed at Γ in the {res.n_atoms}-atom cell; image energies in the "
                            + _size(res.n_atoms, s.migration_energy_tiling))
        return "migration", name, out
    if kind == "surface":
        a0 = a0_li()
        tiled = _tiled(factory, cache, s.slab_tiling, tag)
        e_bulk = float(values["eos"]["Li"]["e0_eV_per_fu"])  # bcc Li per atom at a0, its EOS tiling
        res = surfaces.surface_energy(name, tiled, a0, size=s.slab_size, layers=s.slab_layers.get(name, 6),
                                      vacuum=s.slab_vacuum, fmax=s.relax_fmax, steps=s.relax_steps,
                                      bulk_energy_per_atom=e_bulk)
        out = res.to_json()
        out["cell_size"] = (_size(res.n_atoms, s.slab_tiling) + "; bulk energy: E0 of the Li equation of state ("
                            + str(values["eos"]["Li"].get("cell_size")) + ")")
        return "surfaces", f"Li{name}", out
    if kind == "adsorption":
        a0 = a0_li()
        tiled = _tiled(factory, cache, s.adsorption_tiling, tag)
        res = surfaces.ec_binding(tiled, a0, size=s.adsorption_size, layers=s.adsorption_layers,
                                  vacuum=s.slab_vacuum, fmax=s.relax_fmax, steps=s.relax_steps)
        out = res.to_json()
        out["cell_size"] = _size(res.n_atoms, s.adsorption_tiling)
        return "adsorption", name, out
    raise UserError(f"unknown reference task {task!r} (eos:<phase>, migration:<defect>, surface:<face>, "
                    "adsorption:EC_Li100)")


def recompute(factory: CalcFactory, out: str | os.PathLike, work: str | os.PathLike, settings: ReferenceSettings,
              method: dict[str, Any], *, base: str | os.PathLike | None = None, only: list[str] | None = None,
              progress: Callable[[str], None] = print) -> Path:
    """Compute the reference method's numbers (every task of ``settings`` not yet in ``out``).

    ``factory`` makes the reference method's ASE calculator; ``method`` describes it (name, code,
    settings: written into ``reference_method``). Experimental values are carried over from
    ``out`` if it exists, else from ``base`` (default: the shipped file). Resumable (module
    docstring); returns ``out``.
    """
    out, work = Path(out), Path(work)
    start = Path(base) if base is not None else SHIPPED
    source = out if out.is_file() else start
    doc = json.loads(json.dumps(load_reference(source).data))
    if source != out:  # a new file: the experimental values only, none of another method's numbers
        doc["values"], doc["reference_method"] = {}, {}
    tag = json.dumps(method.get("settings", {}), sort_keys=True)
    old = doc.get("reference_method") or {}
    if old.get("settings") and old.get("settings") != method.get("settings") and doc.get("values"):
        raise UserError(f"{out} holds values for other reference settings ({old.get('settings')}); "
                        "write to another --out or remove it", str(out))
    cache = ResultCache(work / "calculations.jsonl")
    tasks = only or settings.tasks
    sizes = dict((doc.get("reference_method") or {}).get("cell_sizes") or {})
    for task in tasks:
        kind, _, name = task.partition(":")
        section = {"eos": "eos", "migration": "migration", "surface": "surfaces", "adsorption": "adsorption"}.get(kind)
        key = f"Li{name}" if kind == "surface" else name
        if section and key in (doc.get("values") or {}).get(section, {}):
            progress(f"{task}: done already")
            continue
        progress(f"{task}: computing")
        t0 = _dt.datetime.now(_dt.timezone.utc)
        section, key, value = _run_task(task, factory, cache, settings, doc, tag, progress)
        value["computed"] = t0.isoformat(timespec="seconds")
        value["seconds"] = (_dt.datetime.now(_dt.timezone.utc) - t0).total_seconds()
        doc.setdefault("values", {}).setdefault(section, {})[key] = value
        sizes[task] = value.get("cell_size")
        _write(out, doc, method, sizes, settings, tasks)
        progress(f"{task}: done in {value['seconds']:.0f} s")
    _write(out, doc, method, sizes, settings, tasks)
    return out


def _write(out: Path, doc: dict, method: dict, sizes: dict, settings: ReferenceSettings, tasks: list[str]) -> None:
    values = doc.get("values") or {}
    prefix = {"eos": "eos", "migration": "migration", "surfaces": "surface", "adsorption": "adsorption"}
    done = {f"{prefix.get(sec, sec)}:{n[2:] if sec == 'surfaces' else n}" for sec, items in values.items()
            for n in items}
    remaining = [t for t in settings.tasks if t not in done]
    prov = provenance()
    doc["reference_method"] = {
        **method, "cell_sizes": sizes, "k_points": "Γ only; k-point convergence by tiling (see cell_sizes)",
        "versions": prov["versions"], "git_revision": prov["git_revision"], "host": prov["host"],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "complete" if not remaining else "partial", "remaining": remaining,
        "settings_of_recompute": settings.model_dump(mode="json"),
        "resume": "seimlip validate --recompute-reference (same --reference-out and --work): finished tasks "
                  "are kept, unfinished ones replay their cached calculations and continue",
    }
    if out.is_file():  # experimental values edited in the file meanwhile are kept
        try:
            on_disk = json.loads(out.read_text())
            if isinstance(on_disk.get("experiment"), dict):
                doc["experiment"] = on_disk["experiment"]
        except (OSError, json.JSONDecodeError):
            pass
    write_text_atomic(out, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
