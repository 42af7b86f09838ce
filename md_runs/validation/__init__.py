"""Physical validation of a potential against its reference method and experiment.

``seimlip validate MODEL [--suite quick|full] [--out DIR]`` (the command lives in
``active_learning.cli.validate``) calls :func:`validate_model`, which runs, on the project's
builders and MD engines:

1. equations of state (:mod:`.eos`): V0, a0, B0 of bcc Li, LiF, Li2O, Li2CO3;
2. crystal stability (:mod:`.stability`): NPT at 600 K and 0.8 Tm, crystallinity over the run;
3. liquids (:mod:`.liquids`): NPT densities of EC, DMC, 1 M LiPF6 in EC/DMC, Li-O RDF, Li+ CN;
4. Li migration in LiF (:mod:`.migration`): vacancy and interstitial NEB barriers;
5. Li(100)/(110) surface energies and EC binding on Li(100) (:mod:`.surfaces`);
6. reactive stability (:mod:`.reactive`): Li(100) | LiPF6/EC at 400 K, every monitor on;

and compares each number with the reference file (:mod:`.reference`: the reference method's own
numbers and experiment, never fitted to) within documented tolerances (:mod:`.config`), writing
``validation.json`` (schema ``seimlip.validation/1``), ``validation.md`` and plots (:mod:`.outputs`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable

from md_runs.validation.config import ValidationConfig, suite_config
from md_runs.validation.md import ModelSpec
from md_runs.validation.reference import SHIPPED, load_reference
from md_runs.validation.outputs import load_validation

__all__ = ["ModelSpec", "SHIPPED", "ValidationConfig", "load_reference", "load_validation", "suite_config",
           "validate_model"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cannot_establish(cfg: ValidationConfig) -> list[str]:
    """What a suite of this size leaves open (written into the report, not hidden)."""
    out = []
    s, liq, r, m = cfg.stability, cfg.liquids, cfg.reactive, cfg.migration
    if "stability" in cfg.checks and s.time_ps < 50:
        out.append(f"Crystal stability over {s.time_ps:g} ps in cells of {min(_n_atoms(s)):d}-{max(_n_atoms(s)):d} "
                   "atoms: a crystal that survives a few ps may still melt or amorphise over ns, and small "
                   "periodic cells superheat; the full suite runs >= 50 ps in larger cells.")
    if "liquids" in cfg.checks and liq.time_ps < 10:
        out.append(f"Liquid densities after {liq.time_ps:g} ps of NPT from the experimental density with "
                   f"{liq.n_solvent} solvent molecules: indicative only; a density still drifting is n/a, and "
                   "the Li+ coordination of the one or two Li+ in such a box is noisy.")
    if "reactive" in cfg.checks and r.time_ps < 10:
        out.append(f"Reactive stability over {r.time_ps:g} ps (the full suite: 10 ps): slow failures (drift, "
                   "late close contacts) are not seen.")
    if "migration" in cfg.checks and tuple(m.repeat) == (2, 2, 2):
        out.append("NEB barriers in 63/65-atom LiF cells: defect-defect interaction across 8 Å images is "
                   "included (the reference path is in the same cell size).")
    if "eos" in cfg.checks:
        out.append("Equations of state are static (0 K, no zero-point or thermal expansion); compare V0 with "
                   "room-temperature experiment accordingly.")
    return out


def _n_atoms(s) -> list[int]:
    import numpy as np

    per = {"LiF": 8, "Li2O": 12, "Li2CO3": 24}
    return [per[p] * int(np.prod(s.repeat.get(p, (2, 2, 2)))) for p in s.phases] or [0]


def validate_model(model: ModelSpec | str, out: str | Path, cfg: ValidationConfig | None = None, *,
                   reference: str | Path | None = None, reference_factory: Callable | None = None,
                   progress: Callable[[str], None] = print) -> dict:
    """Run the suite ``cfg`` (default: quick) on ``model`` into ``out``; return the validation document.

    ``reference_factory`` (optional) is the reference method's calculator factory: with it the
    reference method is also evaluated on the model's own NEB images (when the model's NEB cell is
    the reference's), so both barriers are compared on the model's path too.
    """
    from md_runs.validation import outputs as R
    from md_runs.validation import rows as W
    from md_runs.validation.runner import run_units
    from mlip.config import dump_config
    from mlip.utils import provenance

    cfg = cfg or suite_config("quick")
    out = Path(out)
    ref = load_reference(reference or cfg.reference)  # bad input fails before anything is written
    spec = model if isinstance(model, ModelSpec) else ModelSpec(name=str(model), path=str(model))
    sha = path = None
    if spec.is_seimlip:
        from md_runs.lammps.run import model_file

        resolved, _ = model_file(spec.path)
        path, sha = str(resolved), _sha256(resolved)
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "validation.yaml")
    tm = {p: e["value"] for p in ("Li", "LiF", "Li2O", "Li2CO3") if (e := ref.experiment(p, "melting_K"))}
    start = time.perf_counter()
    results = run_units(spec, cfg, out, str(ref.path), sha, tm, progress)
    by = lambda prefix: {k.split(":", 1)[1]: v for k, v in results.items() if k.startswith(prefix)}  # noqa: E731
    eos, migration = by("eos:"), by("migration:")
    if reference_factory is not None:
        _reference_on_model_path(migration, ref, reference_factory, progress)
    stability = [v for k, v in results.items() if k.startswith("stability:")]
    liquids = by("liquid:")
    surfaces = {**{f"Li{k}": v for k, v in by("surface:").items()}, **by("adsorption:")}
    tol = cfg.tolerances
    rows: list[W.Row] = []
    rows += W.eos_rows(eos, ref, tol)
    rows += W.stability_rows([r for r in stability if "error" not in r], ref, tol)
    rows += [W.limit("stability", k.split(":")[1], k, "", "failed", False, "completes", v["error"])
             for k, v in results.items() if k.startswith("stability:") and "error" in v]
    rows += W.liquid_rows({k: v for k, v in liquids.items() if "error" not in v}, ref, tol)
    rows += [W.limit("liquids", "electrolyte", k, "", "failed", False, "completes", v["error"])
             for k, v in liquids.items() if "error" in v]
    rows += W.migration_rows(migration, ref, tol)
    rows += W.surface_rows(surfaces, ref, tol)
    if "reactive" in results:
        r = results["reactive"]
        rows += (W.reactive_rows(r, tol) if "error" not in r else
                 [W.limit("reactive", "interface", "reactive run", "", "failed", False, "completes", r["error"])])
    plots = [p for p in (R.plot_eos(eos, ref, out / "eos.png"), R.plot_stability(stability, out / "stability.png"),
                         R.plot_liquids(liquids, ref, out / "liquids.png"), R.plot_neb(migration, ref, out / "neb.png"))
             if p is not None]
    doc = {
        "schema": R.SCHEMA, "kind": "validation", "suite": cfg.suite,
        "model": {"name": spec.name, "path": path, "sha256": sha},
        "reference": {"path": str(ref.path), "method": ref.method_name, "status": ref.method.get("status", "?"),
                      "settings": ref.method.get("settings"), "date": ref.method.get("date")},
        "rows": [r.to_json() for r in rows], "phases": W.phase_verdicts(rows), "summary": R.summary(rows),
        "passed": all(v["passed"] is not False for v in W.phase_verdicts(rows).values()),
        "cannot_establish": cannot_establish(cfg), "config": cfg.model_dump(mode="json"),
        "units": {k: {"seconds": v.get("seconds"), "error": v.get("error")} for k, v in results.items()},
        "results": results, "plots": [str(p) for p in plots],
        "seconds": time.perf_counter() - start, "provenance": provenance(cfg.seed),
        # worker time of every unit, including units cached from an earlier (interrupted) run
        "unit_seconds": float(sum(v.get("seconds") or 0.0 for v in results.values())),
        "cached_units": sorted(k for k, v in results.items() if v.get("cached")),
    }
    R.write_outputs(doc, out)
    return doc


def _reference_on_model_path(migration: dict, ref, factory: Callable, progress) -> None:
    from md_runs.analysis.migration import path_energies
    from md_runs.validation.reference import TiledCalculator

    for defect, r in migration.items():
        rv = ref.value("migration", defect) or {}
        if "images" not in r or not rv or rv.get("n_atoms") != r.get("n_atoms"):
            continue
        tiling = tuple(rv.get("energy_tiling") or (1, 1, 1))
        progress(f"migration:{defect}: {ref.method_name} on the model's {len(r['images'])} NEB images ({tiling} tiling)")
        energies = path_energies(r["images"], lambda: TiledCalculator(factory(), tiling))
        r["reference_on_model_path_energies_eV"] = energies
        r["reference_on_model_path_eV"] = float(max(energies))
