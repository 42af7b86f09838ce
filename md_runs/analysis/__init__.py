"""Analysis of MD run directories: species, profiles, diffusion/conductivity, Arrhenius, density.

:func:`analyze` finds every run directory below a folder (``md_runs.trajectory.find_runs``) and
writes ``analysis/<run name>/<kind>.json`` + ``.png`` per applicable analysis:

- ``species`` and ``profiles``: runs with ``surface_normal`` set (interfaces, SEI formation);
- ``diffusion``: every run (Li tracer D per region, solvent D in liquids, NE/EH conductivity,
  Haven ratio);
- ``density``: runs with ``equilibration/thermo.csv``;
- ``crystallinity``: bulk crystal runs (an SEI phase or bcc Li; :mod:`.crystallinity`): the
  fraction of the anion lattice still on its sites and the Lindemann index; every quantity of the
  run carries ``melted`` (and a melted crystal's Li diffusivity is never ``diffusive``), which the
  PyBaMM export refuses unless ``--allow-unvalidated``;

plus ``analysis/arrhenius_<system>.json`` + ``.png`` for every system run at two or more
temperatures, ``analysis/summary.json`` listing every result and ``analysis/config.yaml`` (the
resolved :class:`AnalysisConfig`). Results follow :mod:`md_runs.analysis.result`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from md_runs.analysis.config import AnalysisConfig
from md_runs.analysis.result import AnalysisResult, Quantity
from mlip.errors import UserError

__all__ = ["AnalysisConfig", "analyze"]

SOLVENT_NAMES = ("EC", "DMC")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("_") or "run"


def interface_regions(first) -> dict:
    """Regions of an interface run without ``phases``, from each Li's species in the first frame:
    ``metal`` (Li(metal)), ``sei`` (Li bound to an SEI unit; meta ``phase`` = the commonest unit)
    and ``electrolyte`` (Li+)."""
    import numpy as np

    from md_runs.analysis.species import LI_ION, LI_METAL, SEI_VOLUME_A3

    labels = first.atom_species
    sei = np.isin(labels, list(SEI_VOLUME_A3))
    out = {"metal": (np.flatnonzero(labels == LI_METAL), {}), "electrolyte": (np.flatnonzero(labels == LI_ION), {})}
    if sei.any():
        names, counts = np.unique(labels[sei], return_counts=True)
        out["sei"] = (np.flatnonzero(sei), {"phase": str(names[np.argmax(counts)])})
    return out


def _analyze_run(run, config: AnalysisConfig, folder: Path) -> dict[str, AnalysisResult]:
    import numpy as np

    from md_runs.analysis.composition import species_result, species_series
    from md_runs.analysis.density import EQUILIBRATION_THERMO, density_result
    from md_runs.analysis.diffusion import diffusion_result
    from md_runs.analysis.profiles import profiles_result
    from md_runs.analysis.species import classify

    results: dict[str, AnalysisResult] = {}
    if run.info.surface_normal is not None:
        if run.info.surface_normal not in (0, 1, 2):
            raise UserError(f"surface_normal must be 0, 1 or 2, got {run.info.surface_normal}", str(run.path))
        idx, times, series = species_series(run, config)
        results["species"] = species_result(run, times, series, config, folder / "species.png")
        results["profiles"] = profiles_result(run, idx, times, series, config, folder / "profiles.png")
        first = series[0]
    else:
        first = classify(run.frames[0], config.bond_cutoffs, config.li_anion_cutoff)
    molecules = {}
    for name in SOLVENT_NAMES:
        comps = np.unique(first.component[first.atom_species == name])
        if len(comps):
            molecules[name] = [np.flatnonzero(first.component == c) for c in comps]
    liquid = run.info.surface_normal is None and bool(molecules)
    regions = None
    if run.info.surface_normal is not None and not run.info.phases:
        regions = interface_regions(first)
    results["diffusion"] = diffusion_result(run, config, folder / "diffusion.png", molecules, liquid, regions)
    if (run.path / EQUILIBRATION_THERMO).is_file():
        results["density"] = density_result(run, config, folder / "density.png")
    from md_runs.analysis.defect_transport import defect_transport_result, is_defect_run

    if is_defect_run(run):  # before the gate, so a melted defect run is marked too
        results["defect_transport"] = defect_transport_result(run, results["diffusion"], folder / "hops.png")
    from md_runs.analysis.crystallinity import crystallinity_result, is_bulk_crystal_run, mark_phase_state

    if is_bulk_crystal_run(run):  # the gate: a melted crystal's numbers are marked, never 'diffusive'
        results["crystallinity"] = crystallinity_result(run, folder / "crystallinity.png")
        mark_phase_state(results, results["crystallinity"])
    return results


def analyze(root: str | Path, out: str | Path | None = None, config: AnalysisConfig | None = None) -> dict[str, Path]:
    """Analyse every run below ``root``; results under ``<out or root>/analysis``. Returns {name: json path}."""
    from rich.progress import track

    from md_runs.analysis.arrhenius import arrhenius_result
    from md_runs.trajectory import find_runs, read_run
    from mlip.config import dump_config
    from mlip.utils import provenance, write_text_atomic

    config = config or AnalysisConfig()
    root = Path(root)
    runs = find_runs(root)
    base = Path(out if out is not None else root) / "analysis"
    base.mkdir(parents=True, exist_ok=True)
    dump_config(config, base / "config.yaml")
    written: dict[str, Path] = {}
    by_system: dict[str, list[tuple[Quantity, str]]] = {}
    used: set[str] = set()
    for run_dir in track(runs, description="analysing runs", transient=True):
        run = read_run(run_dir)
        name = _safe(run.info.name)
        while name in used:
            name += "_"
        used.add(name)
        folder = base / name
        for kind, result in _analyze_run(run, config, folder).items():
            written[f"{name}/{kind}"] = result.save(folder / f"{kind}.json")
            if kind == "diffusion":
                d = result.get("li_diffusivity", region="all")
                by_system.setdefault((run.info.system, "li_diffusivity"), []).append((d, str(run.path)))
            if kind == "defect_transport":  # the defect's own D(T): what an interstitial SEI model grows by
                for qname, q in result.quantities.items():
                    if qname.endswith("_diffusivity"):  # the concentration's T dependence is E_f's, not fitted
                        by_system.setdefault((run.info.system, qname), []).append((q, str(run.path)))
    for (system, quantity), points in by_system.items():
        temps = {q.meta["temperature_K"] for q, _ in points}
        usable = [(q, p) for q, p in points if q.mean > 0 and q.std is not None]
        if len(temps) < 2 or len({q.meta["temperature_K"] for q, _ in usable}) < 2:
            continue
        key = f"arrhenius_{_safe(system)}" + ("" if quantity == "li_diffusivity" else f"_{quantity}")
        prov = {"system": system, "runs": [p for _, p in usable],
                "temperatures_K": sorted(q.meta["temperature_K"] for q, _ in usable), "software": provenance()}
        result = arrhenius_result(system, quantity, [q for q, _ in usable], prov, base / f"{key}.png",
                                  config.arrhenius_estimator, config.mcmc_samples, config.seed)
        melted = sorted({q.meta["temperature_K"] for q, _ in usable if q.meta.get("melted")})
        for value in result.quantities.values():  # an Arrhenius fit through a melted run is one too
            for item in value if isinstance(value, list) else [value]:
                item.meta["melted"] = bool(melted)
                if melted:
                    item.meta["phase_state"] = f"fit includes runs that melted (T = {melted} K)"
        written[key] = result.save(base / f"{key}.json")
    summary = {"root": str(root), "config": "config.yaml",
               "results": {k: str(p.relative_to(base)) for k, p in written.items()}}
    write_text_atomic(base / "summary.json", json.dumps(summary, indent=2) + "\n")
    return written

