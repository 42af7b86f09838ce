"""The defect energetics of a transport protocol's defect systems, with the runs' own model.

For every (phase, defect, repeat, defect_seed) of a ``li_transport`` protocol: the formation
energy with Li metal as the reservoir and the equilibrium concentration's inputs
(:func:`md_runs.analysis.defects.defect_energetics`), and for the LiF interstitial the NEB barrier
and harmonic-TST prefactor of its hop (:mod:`md_runs.analysis.defect_tst`). Computed once (ASE,
the deployed model the runs used) and written as ``defect_energetics.json`` into each of the
system's run directories, where ``seimlip analyze`` reads it; a rerun keeps what is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from md_runs.analysis.defects import ENERGETICS_FILE as FILE
from md_runs.analysis.defects import ENERGETICS_SCHEMA as SCHEMA
from md_runs.protocols.systems import RunPlan
from mlip.utils import provenance, read_json_document, write_json_atomic


def compute(model: str, phase: str, defect: str, repeat, seed: int) -> dict:
    from md_runs.analysis.defect_tst import interstitial_hop_tst
    from md_runs.analysis.defects import defect_energetics
    from md_runs.lammps.run import model_file
    from mlip.deploy.calculator import SeimlipCalculator

    path, _ = model_file(model)
    factory = lambda: SeimlipCalculator(str(path))  # noqa: E731
    energetics = defect_energetics(factory(), phase, defect, tuple(repeat), seed=seed)
    doc = {"schema": SCHEMA, "model": model, "formation": energetics.as_dict(), "hop_tst": None,
           "provenance": provenance()}
    if phase == "LiF" and defect == "interstitial":
        doc["hop_tst"] = interstitial_hop_tst(factory, energetics.a0_A, tuple(repeat)).as_dict()
    else:
        doc["hop_tst_note"] = "NEB/TST is implemented for the LiF interstitial hop only"
    return doc


def write_defect_energetics(model: str, plans: list[RunPlan], out: Path,
                            say: Callable[[str], None] = print) -> list[Path]:
    """``defect_energetics.json`` in the run directory of every defect plan (module doc)."""
    groups: dict[tuple, list[RunPlan]] = {}
    for plan in plans:
        if plan.meta.get("defect"):
            key = (plan.system, plan.meta["defect"], tuple(plan.meta.get("repeat", (2, 2, 2))),
                   int(plan.meta.get("defect_seed", 0)))
            groups.setdefault(key, []).append(plan)
    written = []
    for (phase, defect, repeat, seed), members in groups.items():
        targets = [out / p.name / FILE for p in members if (out / p.name).is_dir()]
        have = [t for t in targets if t.is_file()]
        if len(have) == len(targets):
            continue
        doc = read_json_document(have[0], "defect energetics", SCHEMA) if have else compute(
            model, phase, defect, repeat, seed)
        f, tst = doc["formation"], doc.get("hop_tst")
        say(f"{phase} {defect}: formation energy {f['formation_energy_ev']:.3f} eV (Li metal reservoir)"
            + (f", NEB hop barrier {tst['barrier_eV']:.3f} eV, attempt frequency "
               f"{tst['attempt_frequency_Hz'] / 1e12:.3g} THz" if tst else ""))
        for t in targets:
            if not t.is_file():
                write_json_atomic(t, doc)
                written.append(t)
    return written


__all__ = ["FILE", "compute", "write_defect_energetics"]
