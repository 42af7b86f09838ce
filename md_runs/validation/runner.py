"""Run a validation suite: independent units of work, cached per unit, in parallel processes.

A *unit* is one equation of state, one crystal run at one temperature, one liquid, one NEB, one
surface or the reactive run. Each writes ``OUT/parts/<unit>.json`` when it finishes (with the
model's sha256 and a hash of the settings it ran with), so an interrupted ``seimlip validate``
resumes at the first unit not done, and MD units also resume inside themselves (the protocol
engines' restarts). The equations of state run first: the crystal runs start at the model's own
volume, and the NEB and surfaces at its own lattice constants.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from md_runs.validation.config import ValidationConfig
from md_runs.validation.md import ModelSpec
from md_runs.validation.outputs import json_default
from mlip.errors import UserError
from mlip.utils import write_text_atomic

#: experimental lattice constants, used when the EOS check did not run
FALLBACK_A0 = {"Li": 3.44, "LiF": 4.03}


@dataclass
class Unit:
    id: str
    check: str
    cost: float  # rough atom-steps, longest first


def plan_units(cfg: ValidationConfig, tm: dict[str, float]) -> list[Unit]:
    units: list[Unit] = []
    if "eos" in cfg.checks:
        units += [Unit(f"eos:{p}", "eos", 3e4 if p == "Li2CO3" else 3e3) for p in cfg.eos.phases]
    if "stability" in cfg.checks:
        s = cfg.stability
        for p in s.phases:
            temps = list(s.temperatures_K) + [round(f * tm[p]) for f in s.melt_fractions if p in tm]
            n = {"LiF": 8, "Li2O": 12, "Li2CO3": 24}[p]
            for t in dict.fromkeys(float(t) for t in temps):
                rep = s.repeat.get(p, (2, 2, 2))
                steps = s.time_ps * 1000 / s.timestep_fs.get(p, 1.0)
                units.append(Unit(f"stability:{p}:{t:g}", "stability", n * rep[0] * rep[1] * rep[2] * steps))
    if "liquids" in cfg.checks:
        units += [Unit(f"liquid:{x}", "liquids", 11 * cfg.liquids.n_solvent * cfg.liquids.time_ps * 1000
                       / cfg.liquids.timestep_fs) for x in cfg.liquids.systems]
    if "migration" in cfg.checks:
        units += [Unit(f"migration:{d}", "migration", 5e4) for d in cfg.migration.defects]
    if "surfaces" in cfg.checks:
        units += [Unit(f"surface:{f}", "surfaces", 1e4) for f in cfg.surfaces.faces]
        if cfg.surfaces.adsorption:
            units.append(Unit("adsorption:EC_Li100", "surfaces", 2e4))
    if "reactive" in cfg.checks:
        r = cfg.reactive
        units.append(Unit("reactive", "reactive", 160 * (r.time_ps + r.equilibrate_ps) * 1000 / r.timestep_fs))
    return units


def _reference_used(unit_id: str, reference_path: str | None) -> str | None:
    """When a unit also evaluates the model on stored reference structures (NEB images, relaxed
    slabs), the date of those reference values: a recomputed reference reruns the unit."""
    from md_runs.validation.reference import load_reference

    kind, _, name = unit_id.partition(":")
    section, key = {"migration": ("migration", name), "surface": ("surfaces", f"Li{name}"),
                    "adsorption": ("adsorption", name)}.get(kind, (None, None))
    if section is None:
        return None
    value = load_reference(reference_path).value(section, key) or {}
    return value.get("computed")


def _settings_hash(cfg: ValidationConfig, check: str, reference: str | None = None) -> str:
    section = {"surfaces": cfg.surfaces, "liquids": cfg.liquids}.get(check, getattr(cfg, check, None))
    data = {"engine": cfg.engine, "seed": cfg.seed, "settings": section.model_dump(mode="json") if section else None}
    if reference:
        data["reference_values_computed"] = reference
    if check == "stability":  # the verdict is made inside the unit; v2: crystallinity in a re-based cell
        data["tolerances"] = cfg.tolerances.model_dump(mode="json")
        data["crystallinity_version"] = 3  # 2: re-based cells; 3: one site per anion (C of CO3)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def run_unit(unit_id: str, model: ModelSpec, cfg: ValidationConfig, out: Path, eos: dict[str, dict],
             reference_path: str | None) -> dict:
    """Run one unit (in this process) and return its JSON-able result."""
    from md_runs.validation.reference import load_reference

    kind, _, name = unit_id.partition(":")
    folder = out / "runs"
    factory = model.calculator
    if kind == "eos":
        from md_runs.validation.eos import eos_scan

        e = cfg.eos
        return eos_scan(name, factory, search_volume_ratio=e.search_volume_ratio, search_points=e.search_points,
                        fit_span=e.fit_span, fit_points=e.fit_points, relax_fmax=e.relax_fmax,
                        relax_steps=e.relax_steps).to_json()
    if kind == "stability":
        from md_runs.validation.stability import run_stability

        phase, _, t = name.partition(":")
        v0 = (eos.get(phase) or {}).get("v0_A3_per_fu")
        return run_stability(model, phase, float(t), cfg.stability, folder / "stability", cfg.engine, cfg.seed,
                             v0 if v0 and (eos.get(phase) or {}).get("bracketed", True) else None, cfg.tolerances)
    if kind == "liquid":
        from md_runs.validation.liquids import run_liquid

        return run_liquid(model, name, cfg.liquids, folder / "liquids", cfg.engine, cfg.seed)
    if kind == "reactive":
        from md_runs.validation.reactive import run_reactive

        return run_reactive(model, cfg.reactive, folder / "reactive", cfg.engine, cfg.seed)
    ref = load_reference(reference_path)
    if kind == "migration":
        from md_runs.analysis.migration import barrier, path_energies

        m = cfg.migration
        a0 = (eos.get("LiF") or {}).get("a0_A") or FALLBACK_A0["LiF"]
        res = barrier(name, factory, a0, repeat=m.repeat, images=m.images, fmax=m.fmax, steps=m.steps).to_json()
        rv = ref.value("migration", name)
        if rv and rv.get("images"):
            res["on_reference_path_eV"] = max(path_energies(rv["images"], factory))
            res["on_reference_path_energies_eV"] = path_energies(rv["images"], factory)
        return res
    if kind in ("surface", "adsorption"):
        from md_runs.validation import surfaces as S

        s = cfg.surfaces
        a0 = (eos.get("Li") or {}).get("a0_A") or FALLBACK_A0["Li"]
        if kind == "surface":
            res = S.surface_energy(name, factory, a0, size=s.size, layers=s.layers, vacuum=s.vacuum, fmax=s.fmax,
                                   steps=s.steps).to_json()
            rv = ref.value("surfaces", f"Li{name}")
        else:
            res = S.ec_binding(factory, a0, size=s.adsorbate_size, layers=s.adsorbate_layers, vacuum=s.vacuum,
                               fmax=s.fmax, steps=s.steps).to_json()
            rv = ref.value("adsorption", name)
        if rv and rv.get("structures"):
            res["on_reference_geometry"] = S.energies_on(rv, factory)
        return res
    raise UserError(f"unknown validation unit {unit_id!r}")


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _worker(unit_id: str, model_name: str, model_path: str, cfg_json: dict, out: str, eos: dict,
            reference_path: str | None) -> tuple[str, dict, float]:
    start = time.perf_counter()
    cfg = ValidationConfig.model_validate(cfg_json)
    try:
        result = run_unit(unit_id, ModelSpec(model_name, model_path), cfg, Path(out), eos, reference_path)
    except UserError as exc:
        result = {"error": str(exc)}
    return unit_id, result, time.perf_counter() - start


def run_units(model: ModelSpec, cfg: ValidationConfig, out: Path, reference_path: str | None, model_sha: str | None,
              tm: dict[str, float], progress: Callable[[str], None] = print) -> dict[str, dict]:
    """Every planned unit's result (cached in OUT/parts), EOS first, the rest in ``cfg.workers`` processes."""
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    units = plan_units(cfg, tm)
    results: dict[str, dict] = {}

    def key(unit: Unit) -> str:
        return _settings_hash(cfg, unit.check, _reference_used(unit.id, reference_path))

    def part(unit: Unit) -> Path:
        return parts / (unit.id.replace(":", "_") + ".json")

    def cached(unit: Unit) -> dict | None:
        p = part(unit)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("model_sha256") != model_sha or data.get("settings") != key(unit):
            return None
        if model_sha is None:  # a calculator without a file: nothing proves it is the same one
            return None
        return data

    def keep(unit: Unit, result: dict, seconds: float) -> None:
        results[unit.id] = {**result, "seconds": seconds}
        write_text_atomic(part(unit), json.dumps({"unit": unit.id, "model_sha256": model_sha,
                                                  "settings": key(unit), "seconds": seconds,
                                                  "result": result}, default=json_default) + "\n")
        what = f"error: {result['error']}" if "error" in result else "done"
        progress(f"{unit.id}: {what} ({seconds:.0f} s)")

    todo = []
    for unit in units:
        data = cached(unit)
        if data is not None:
            results[unit.id] = {**data["result"], "seconds": data.get("seconds", 0.0), "cached": True}
            progress(f"{unit.id}: done already ({data.get('seconds', 0):.0f} s earlier)")
        else:
            todo.append(unit)
    planned = {u.id for u in units}

    def needs(unit: Unit) -> str | None:
        """The equation of state a unit starts from (its phase's volume, LiF's or Li's a0)."""
        kind, _, name = unit.id.partition(":")
        dep = {"stability": f"eos:{name.split(':')[0]}", "migration": "eos:LiF", "surface": "eos:Li",
               "adsorption": "eos:Li"}.get(kind)
        return dep if dep in planned else None

    # EOS first (they unlock the rest), then the longest units first
    todo.sort(key=lambda u: (u.check != "eos", -u.cost))
    parallel = cfg.workers > 1 and model.is_seimlip and len(todo) > 1
    if parallel:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, wait

        pool = ProcessPoolExecutor(max_workers=cfg.workers, mp_context=mp.get_context("spawn"),
                                   initializer=_worker_init)
        running: dict = {}
        try:
            while todo or running:
                ready = [u for u in todo if needs(u) is None or needs(u) in results]
                for u in ready[: max(0, cfg.workers - len(running))]:
                    todo.remove(u)
                    eos = {k[4:]: v for k, v in results.items() if k.startswith("eos:")}
                    running[pool.submit(_worker, u.id, model.name, model.path, cfg.model_dump(mode="json"),
                                        str(out), eos, reference_path)] = u
                    progress(f"{u.id}: started")
                if not running:  # cannot happen: every dependency is planned before its users
                    raise RuntimeError(f"validation units blocked: {[u.id for u in todo]}")
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    unit = running.pop(fut)
                    _, result, seconds = fut.result()
                    keep(unit, result, seconds)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        for unit in todo:
            eos = {k[4:]: v for k, v in results.items() if k.startswith("eos:")}
            progress(f"{unit.id}: running")
            start = time.perf_counter()
            try:
                result = run_unit(unit.id, model, cfg, out, eos, reference_path)
            except UserError as exc:
                result = {"error": str(exc)}
            keep(unit, result, time.perf_counter() - start)
    return results

