"""Liquids: NPT densities of EC (313 K), DMC (298 K) and 1 M LiPF6 in EC/DMC (298 K); Li-O RDF and
the Li+ coordination number.

Boxes come from :func:`md_runs.builders.electrolyte_box` (packmol) at the experimental density.
The density is the mean over the last ``average_fraction`` of the run; when the volume still
drifts there by more than 2 %, or the run is shorter than two barostat times (1 ps), the density
row is inconclusive (the run was too short), not a pass.
The Li-O g(r) is averaged over the same frames; the coordination number counts O within the
first minimum after the first peak (2.6 Å when there is no clear minimum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.validation.md import ModelSpec, run_npt

AMU_A3_TO_G_CM3 = 1.66053907
#: system -> (solvent volume fractions, LiPF6 molarity, temperature K)
LIQUIDS = {
    "EC": ({"EC": 1.0}, 0.0, 313.0),
    "DMC": ({"DMC": 1.0}, 0.0, 298.0),
    "LiPF6_EC_DMC": ({"EC": 0.45, "DMC": 0.55}, 1.0, 298.0),  # 1:1 by weight (LP30)
}
#: a density whose volume changes by more than this over the averaging window is not equilibrated
EQUILIBRATED_DRIFT = 0.02
#: barostat time; a run shorter than two of them cannot have found its density, drift or not
PDAMP_FS = 500.0
DEFAULT_LI_O_CUTOFF = 2.6


def li_o_rdf(frames, rmax: float = 6.0, nbins: int = 120) -> tuple[np.ndarray, np.ndarray, float, float | None]:
    """(r, g_LiO(r), coordination number, first-peak position) over ``frames``."""
    from ase.neighborlist import neighbor_list

    edges = np.linspace(0.0, rmax, nbins + 1)
    hist = np.zeros(nbins)
    n_li = n_o = 0
    rho_o = 0.0
    for f in frames:
        sym = np.array(f.get_chemical_symbols())
        li, o = np.flatnonzero(sym == "Li"), np.flatnonzero(sym == "O")
        if not len(li) or not len(o):
            return edges[1:], np.zeros(nbins), float("nan"), None
        i, j, d = neighbor_list("ijd", f, rmax)
        keep = np.isin(i, li) & np.isin(j, o)
        hist += np.histogram(d[keep], edges)[0]
        n_li, n_o = len(li), len(o)
        rho_o += n_o / f.get_volume()
    rho_o /= len(frames)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (len(frames) * n_li * rho_o * shell)
    r = 0.5 * (edges[1:] + edges[:-1])
    peak = int(np.argmax(g))
    cutoff = DEFAULT_LI_O_CUTOFF
    if g[peak] > 1.5:
        after = np.flatnonzero((np.arange(nbins) > peak) & (r < 3.5))
        if len(after):
            m = after[int(np.argmin(g[after]))]
            if g[m] < 0.5 * g[peak]:
                cutoff = float(edges[m + 1])
    cn = float((hist[r < cutoff]).sum() / (len(frames) * n_li))
    return r, g, cn, float(r[peak]) if g[peak] > 0 else None


def run_liquid(model: ModelSpec, system: str, settings, folder: Path, engine: str, seed: int) -> dict:
    from md_runs.builders import electrolyte_box

    solvent, molarity, temperature = LIQUIDS[system]
    atoms = electrolyte_box(n_solvent=settings.n_solvent, solvent=solvent, molarity=molarity, seed=seed)
    counts = dict(atoms.info.get("molecules", {}))
    for key in list(atoms.arrays):
        if key not in ("numbers", "positions"):
            del atoms.arrays[key]
    atoms.info.clear()
    res = run_npt(atoms, model, name=system, temperature_K=temperature, time_ps=settings.time_ps,
                  timestep_fs=settings.timestep_fs, frame_ps=settings.frame_ps, folder=folder / system,
                  cell="hydrostatic", engine=engine, seed=seed, minimise_steps=100, pdamp_fs=PDAMP_FS)
    out: dict = {"system": system, "temperature_K": temperature, "molecules": counts, "n_atoms": len(atoms),
                 "start_density_g_cm3": float(atoms.get_masses().sum() / atoms.get_volume() * AMU_A3_TO_G_CM3),
                 "engine": res.engine, "stopped": res.stopped, "ensemble": res.meta.get("ensemble"),
                 "time_ps_requested": settings.time_ps}
    frames = res.frames
    if len(frames) < 4:
        out.update(time_ps_done=0.0, note="the run produced fewer than 4 frames")
        return out
    times = res.times_ps[: len(frames)]
    vols = np.array([f.get_volume() for f in frames])
    start = int(len(frames) * (1 - settings.average_fraction))
    window = slice(min(start, len(frames) - 2), None)
    mass = float(atoms.get_masses().sum())
    t, v = times[window], vols[window]
    drift = float(np.polyfit(t, v, 1)[0] * np.ptp(t) / v.mean()) if np.ptp(t) > 0 else 0.0
    out.update(time_ps_done=float(times[-1]), density_g_cm3=float(mass / v.mean() * AMU_A3_TO_G_CM3),
               volume_drift_rel=drift,
               equilibrated=bool(abs(drift) <= EQUILIBRATED_DRIFT and times[-1] >= 2 * PDAMP_FS / 1000.0),
               traces={"time_ps": times.tolist(),
                       "density_g_cm3": (mass / vols * AMU_A3_TO_G_CM3).tolist()})
    if "Li" in atoms.get_chemical_symbols():
        r, g, cn, peak = li_o_rdf(frames[window])
        out.update(li_o_coordination=cn, li_o_rdf_peak_A=peak, n_li=int(atoms.get_chemical_symbols().count("Li")),
                   rdf={"r_A": r.tolist(), "g": g.tolist()})
    return out
