"""Finite-size and electronic-temperature convergence of GFN1-xTB (tblite, Γ point) per family.

tblite has no k-points, so the only way to converge a periodic label is a larger cell. The study
labels the *same* structure at growing periodic sizes: a rattled base cell of each family is
tiled 1x, 2x, 3x ... (laterally only for slabs and interfaces). A tiling by n is exactly the base
cell sampled on an n-grid of k-points, so whatever changes between tilings is finite-size error
and nothing else: per-atom energies, stresses and the forces on each base atom (every copy must
carry the same force) are compared between successive sizes.

For each family the result is the smallest size whose energy per atom is within 10 meV, stress
within 0.3 GPa and forces within 20 meV/Å of the next larger size (the rule of the data card).
Metals (Li bulk, slabs, interfaces) are run at several electronic temperatures; molecular boxes
are run at the candidate temperatures too so the effect of smearing on them is measured.

    python datasets/li_ec_gfn1_v2/convergence.py            # resumable; results in convergence.json
    python datasets/li_ec_gfn1_v2/convergence.py --report   # only print the table from what is done

Raw results are kept per calculation in ``convergence_raw.json`` (written atomically after each
call), so a stopped study resumes where it was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

HERE = Path(__file__).resolve().parent
RAW = HERE / "convergence_raw.json"
OUT = HERE / "convergence.json"

#: the rule of the data card: a size is converged when the next larger size changes nothing more
TOL_E_MEV = 10.0  # meV/atom
TOL_S_GPA = 0.3  # GPa, largest stress component
TOL_F_MEV = 20.0  # meV/Å, RMS over base atoms and components

EV_A3_TO_GPA = 160.21766208


@dataclass
class Family:
    name: str
    build: object  # () -> Atoms, the rattled base cell
    tilings: list[tuple[int, int, int]]
    temperatures: list[float]
    metal: bool = False
    #: tilings too expensive for every temperature: only these temperatures
    big_temperatures: dict[tuple[int, int, int], list[float]] = field(default_factory=dict)


def _families() -> list[Family]:
    from md_runs.builders import electrolyte_box, ledc_box, li_bulk, li_interface, li_slab, rattle, sei_phase

    metal_t = [300.0, 1000.0, 2000.0, 3000.0]
    two_t = [300.0, 3000.0]
    return [
        Family("li_bulk", lambda: rattle(li_bulk((2, 2, 2)), 0.08, seed=1),
               [(1, 1, 1), (2, 2, 2), (3, 3, 3)], metal_t, metal=True),
        Family("li_slab_100", lambda: rattle(li_slab("100", (2, 2), layers=6), 0.08, seed=2),
               [(1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 4, 1)], metal_t, metal=True,
               big_temperatures={(4, 4, 1): [3000.0]}),
        Family("li_slab_110", lambda: rattle(li_slab("110", (2, 2), layers=5), 0.08, seed=3),
               [(1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 4, 1)], metal_t, metal=True,
               big_temperatures={(4, 4, 1): [3000.0]}),
        Family("sei_lif", lambda: rattle(sei_phase("LiF"), 0.06, seed=4),
               [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)], two_t,
               big_temperatures={(4, 4, 4): [3000.0]}),
        Family("sei_li2o", lambda: rattle(sei_phase("Li2O"), 0.06, seed=5),
               [(1, 1, 1), (2, 2, 2), (3, 3, 3)], two_t, big_temperatures={(3, 3, 3): [3000.0]}),
        Family("sei_li2co3", lambda: rattle(sei_phase("Li2CO3"), 0.05, seed=6),
               [(1, 1, 1), (1, 2, 2), (2, 3, 2)], two_t, big_temperatures={(2, 3, 2): [3000.0]}),
        Family("sei_ledc", lambda: rattle(ledc_box(n=3, density=1.3, seed=7), 0.04, seed=7),
               [(1, 1, 1), (2, 2, 2)], two_t, big_temperatures={(2, 2, 2): [3000.0]}),
        Family("electrolyte_ec", lambda: rattle(electrolyte_box(n_solvent=4, molarity=0.0, seed=8), 0.04, seed=8),
               [(1, 1, 1), (2, 2, 2)], two_t, big_temperatures={(2, 2, 2): [3000.0]}),
        Family("electrolyte_ec_lipf6",
               lambda: rattle(electrolyte_box(n_solvent=4, molarity=3.0, seed=9), 0.04, seed=9),
               [(1, 1, 1), (2, 2, 2)], metal_t, big_temperatures={(2, 2, 2): []}),
        Family("interface_100",
               lambda: rattle(li_interface("100", (2, 2), layers=3, n_solvent=3, molarity=0.0, seed=10), 0.04, seed=10),
               [(1, 1, 1), (2, 2, 1), (3, 3, 1)], metal_t, metal=True,
               big_temperatures={(3, 3, 1): [3000.0]}),
    ]


def _key(family: str, tiling: tuple[int, int, int], temperature: float) -> str:
    return f"{family}|{'x'.join(map(str, tiling))}|{temperature:g}"


def _load_raw() -> dict:
    return json.loads(RAW.read_text()) if RAW.exists() else {}


def _save(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _label(atoms: Atoms, temperature: float) -> dict:
    """The oracle the dataset uses (TBLiteOracle), so the study measures exactly its labels."""
    from active_learning.oracles.config import TBLiteConfig
    from active_learning.oracles.tblite import TBLiteOracle

    res = TBLiteOracle(TBLiteConfig(electronic_temperature=temperature)).label(atoms)
    if not res.ok:
        raise RuntimeError(res.reason)
    out = res.atoms
    return {
        "natoms": len(out),
        "energy": float(out.info["energy"]),
        "forces": out.arrays["forces"].round(7).tolist(),
        "stress": np.asarray(out.info["stress"]).tolist(),
        "seconds": res.seconds,
    }


def run(families: list[Family]) -> None:
    raw = _load_raw()
    jobs = []
    for fam in families:
        for tiling in fam.tilings:
            for t in fam.big_temperatures.get(tiling, fam.temperatures):
                jobs.append((fam, tiling, t))
    # cheap first (partial results early); cells over 250 atoms by the temperature that decides most
    # (3000 K, then 1000, 2000, 300 K), so a stopped study has the informative rows
    order = {3000.0: 0, 1000.0: 1, 2000.0: 2, 300.0: 3}
    natoms = {fam.name: len(fam.build()) for fam in families}

    def rank(job):
        fam, tiling, t = job
        n = natoms[fam.name] * int(np.prod(tiling))
        return (n > 250, order.get(t, 4) if n > 250 else 0, n)

    jobs.sort(key=rank)
    bases = {fam.name: fam.build() for fam in families}
    for fam, tiling, t in jobs:
        key = _key(fam.name, tiling, t)
        if key in raw:
            continue
        atoms = bases[fam.name].repeat(tiling)
        print(f"{key}: {len(atoms)} atoms ...", end=" ", flush=True)
        try:
            raw[key] = _label(atoms, t)
        except Exception as exc:  # an SCF failure is a result too
            raw[key] = {"natoms": len(atoms), "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        print(f"{raw[key].get('seconds', 0):.1f} s {raw[key].get('error', '')}", flush=True)
        _save(RAW, raw)


def _base_forces(entry: dict, nbase: int) -> np.ndarray:
    f = np.asarray(entry["forces"]).reshape(-1, nbase, 3)  # ase repeat: copies are consecutive blocks
    return f.mean(axis=0)


def analyse(families: list[Family]) -> dict:
    raw = _load_raw()
    out: dict = {"rule": {"energy_meV_per_atom": TOL_E_MEV, "stress_GPa": TOL_S_GPA, "forces_meV_per_A": TOL_F_MEV},
                 "families": {}}
    for fam in families:
        nbase = len(fam.build())
        temps = sorted({t for tiling in fam.tilings for t in fam.big_temperatures.get(tiling, fam.temperatures)})
        per_t = {}
        for t in temps:
            rows = []
            done = [(tl, raw[_key(fam.name, tl, t)]) for tl in fam.tilings
                    if _key(fam.name, tl, t) in raw and "error" not in raw[_key(fam.name, tl, t)]]
            for (tl, a), (tl2, b) in zip(done, done[1:]):
                fa, fb = _base_forces(a, nbase), _base_forces(b, nbase)
                de = 1000 * abs(a["energy"] / a["natoms"] - b["energy"] / b["natoms"])
                ds = EV_A3_TO_GPA * float(np.max(np.abs(np.subtract(a["stress"], b["stress"]))))
                df = 1000 * float(np.sqrt(np.mean((fa - fb) ** 2)))
                rows.append({
                    "size": a["natoms"], "next_size": b["natoms"], "tiling": list(tl), "next_tiling": list(tl2),
                    "dE_meV_per_atom": round(de, 2), "dstress_GPa": round(ds, 3), "dF_meV_per_A": round(df, 2),
                    "mean_abs_F_meV_per_A": round(1000 * float(np.linalg.norm(fa, axis=1).mean()), 1),
                    "pressure_GPa": round(-EV_A3_TO_GPA * float(np.mean(a["stress"][:3])), 2),
                    "energy_per_atom_eV": round(a["energy"] / a["natoms"], 5),
                    "seconds": round(a["seconds"], 1), "next_seconds": round(b["seconds"], 1),
                    "forces_ok": df <= TOL_F_MEV, "energy_ok": de <= TOL_E_MEV, "stress_ok": ds <= TOL_S_GPA,
                })
            errors = [raw[_key(fam.name, tl, t)]["error"] for tl in fam.tilings
                      if "error" in raw.get(_key(fam.name, tl, t), {})]
            first = lambda ok: next((r["size"] for r in rows if all(r[k] for k in ok)), None)  # noqa: E731
            per_t[f"{t:g}"] = {
                "rows": rows,
                "errors": errors,
                "min_size_forces": first(["forces_ok"]),
                "min_size_all": first(["forces_ok", "energy_ok", "stress_ok"]),
            }
        out["families"][fam.name] = {"base_atoms": nbase, "metal": fam.metal, "by_temperature": per_t}
    out["molecular_smearing_effect"] = _smearing_effect(raw, families)
    out["provenance"] = _provenance()
    return out


def _smearing_effect(raw: dict, families: list[Family]) -> dict:
    """Change of energies and forces from 300 K to each higher electronic temperature, on the
    largest cell computed at both (small cells exaggerate it: their Γ-point gaps are artefacts)."""
    effect = {}
    for fam in families:
        row = {}
        for t in fam.temperatures:
            if t == 300.0:
                continue
            both = [tl for tl in fam.tilings
                    if all(k in raw and "error" not in raw[k] for k in (_key(fam.name, tl, 300.0), _key(fam.name, tl, t)))]
            if not both:
                continue
            tl = both[-1]
            ref, other = raw[_key(fam.name, tl, 300.0)], raw[_key(fam.name, tl, t)]
            d = np.asarray(other["forces"]) - np.asarray(ref["forces"])
            row[f"{t:g}"] = {
                "natoms": ref["natoms"],
                "dF_rms_meV_per_A": round(1000 * float(np.sqrt(np.mean(d**2))), 2),
                "dF_max_meV_per_A": round(1000 * float(np.abs(d).max()), 2),
                "dE_meV_per_atom": round(1000 * (other["energy"] - ref["energy"]) / ref["natoms"], 2),
            }
        if row:
            effect[fam.name] = row
    return effect


def _provenance() -> dict:
    import ase
    import tblite

    return {"method": "GFN1-xTB", "code": f"tblite {getattr(tblite, '__version__', '?')}", "ase": ase.__version__,
            "python": platform.python_version(), "threads": os.environ.get("OMP_NUM_THREADS", "?"),
            "date": time.strftime("%Y-%m-%d"), "kpoints": "Gamma only (tblite)", "charge": 0, "accuracy": 1.0}


def table(result: dict) -> str:
    lines = ["| family | T_el (K) | size -> next | dE (meV/atom) | dσ (GPa) | dF (meV/Å) | mean abs F (meV/Å) | P (GPa) | s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, fam in result["families"].items():
        for t, res in fam["by_temperature"].items():
            for r in res["rows"]:
                lines.append(f"| {name} | {t} | {r['size']} -> {r['next_size']} | {r['dE_meV_per_atom']:.1f} | "
                             f"{r['dstress_GPa']:.2f} | {r['dF_meV_per_A']:.1f} | {r['mean_abs_F_meV_per_A']:.0f} | "
                             f"{r['pressure_GPa']:.1f} | {r['seconds']:.0f}/{r['next_seconds']:.0f} |")
            for e in res["errors"]:
                lines.append(f"| {name} | {t} | failed | {e} | | | | | |")
    return "\n".join(lines)


def smearing_table(result: dict) -> str:
    lines = ["| family | T_el (K) | atoms | dF RMS (meV/Å) | dF max (meV/Å) | dE (meV/atom) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, rows in result["molecular_smearing_effect"].items():
        for t, r in rows.items():
            lines.append(f"| {name} | 300 -> {t} | {r['natoms']} | {r['dF_rms_meV_per_A']:.1f} | "
                         f"{r['dF_max_meV_per_A']:.1f} | {r['dE_meV_per_atom']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--report", action="store_true", help="only analyse what is done")
    p.add_argument("--only", nargs="*", help="families to run")
    args = p.parse_args(argv)
    families = _families()
    if args.only:
        families = [f for f in families if f.name in args.only]
    if not args.report:
        run(families)
    result = analyse(_families())
    _save(OUT, result)
    print(table(result))
    print()
    print(smearing_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
