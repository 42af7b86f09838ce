"""``seimlip validate --recompute-reference``: the reference method's own numbers, resumably.

:func:`recompute` runs the tasks of :class:`ReferenceSettings` (``eos:<phase>``,
``migration:<defect>``, ``surface:<face>``, ``adsorption:EC_Li100``) with a calculator factory for
the reference method and writes them into the reference file (:mod:`.reference`) with their
provenance: method and settings, cell sizes, versions, date.

Cell sizes: tblite has no k-points, so every structure is evaluated *tiled* n1 x n2 x n3 times
(:class:`~md_runs.validation.reference.TiledCalculator`; a tiling by n is the structure on an
n-grid of k-points), with the tilings the convergence study found converged for each family.

Resuming: every calculation goes through
:class:`~md_runs.validation.reference.CachedCalculator`, which appends each result to a JSON-lines
cache keyed by the exact structure. Relaxations and NEB runs are deterministic, so a restarted
task replays its finished steps from the cache in seconds and continues where it stopped; finished
tasks are written into the output JSON (atomically) one by one, so an interrupted recompute leaves a
valid, partial file (``status: partial``, ``remaining`` lists what is left).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import Field

from md_runs.validation.reference import (SHIPPED, CachedCalculator, CalcFactory, ResultCache, TiledCalculator,
                                          load_reference)
from mlip.config import StrictModel
from mlip.errors import UserError
from mlip.utils import provenance, write_text_atomic

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
    from md_runs.analysis import migration
    from md_runs.validation import surfaces
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
