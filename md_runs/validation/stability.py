"""Crystal stability: LiF, Li2O and Li2CO3 supercells in NPT at 600 K and at 0.8 x their melting point.

Each run starts from the experimental structure scaled to the *model's own* zero-kelvin volume
(from its equation of state, when the EOS check ran), so the barostat does not spend the run
undoing a lattice mismatch; the volume drift then measures instability, not equilibration. Over
the trajectory: mean density (last half), volume drift (relative change of a straight-line fit
over the last half), total volume change from the start, and the crystallinity of
:mod:`md_runs.analysis.crystallinity` (framework site fraction, Lindemann index, first RDF peak).
A crystal that melts or amorphises fails; so does one whose run a monitor stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from md_runs.validation.md import ModelSpec, run_npt

AMU_A3_TO_G_CM3 = 1.66053907


def supercell(phase: str, repeat, v0_per_fu: float | None):
    """The experimental supercell of ``phase``, scaled to ``v0_per_fu`` (Å^3) when given."""
    from md_runs.validation.eos import n_formula_units, phase_cell

    atoms = phase_cell(phase, tuple(repeat))
    atoms.info.clear()
    if v0_per_fu:
        n_fu = n_formula_units(atoms, phase)
        atoms.set_cell(atoms.cell * (v0_per_fu * n_fu / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    return atoms


def volume_drift(times: np.ndarray, volumes: np.ndarray) -> float:
    """Relative volume change over the last half from a straight-line fit (0 for < 3 points)."""
    half = len(volumes) // 2
    t, v = np.asarray(times[half:], float), np.asarray(volumes[half:], float)
    if len(v) < 3 or np.ptp(t) <= 0:
        return 0.0
    slope = np.polyfit(t, v, 1)[0]
    return float(slope * np.ptp(t) / v.mean())


def run_stability(model: ModelSpec, phase: str, temperature: float, settings, folder: Path, engine: str, seed: int,
                  v0_per_fu: float | None, tolerances) -> dict:
    """One (phase, temperature) run; a JSON-able summary with per-frame traces for the plots."""
    from md_runs.analysis.crystallinity import crystallinity

    atoms = supercell(phase, settings.repeat.get(phase, (2, 2, 2)), v0_per_fu)
    reference = atoms.copy()
    dt = float(settings.timestep_fs.get(phase, 1.0))
    name = f"{phase}_{temperature:g}K"
    res = run_npt(atoms, model, name=name, temperature_K=temperature, time_ps=settings.time_ps, timestep_fs=dt,
                  frame_ps=settings.frame_ps, folder=folder / name, cell="full", engine=engine, seed=seed)
    out: dict = {"phase": phase, "temperature_K": temperature, "n_atoms": len(atoms), "timestep_fs": dt,
                 "time_ps_requested": settings.time_ps, "engine": res.engine, "stopped": res.stopped,
                 "ensemble": res.meta.get("ensemble"), "start_volume_A3": reference.get_volume(),
                 "started_at_model_v0": bool(v0_per_fu)}
    frames = res.frames
    if len(frames) < 3:
        out.update(time_ps_done=0.0, melted=None, note="the run produced fewer than 3 frames")
        return out
    vols = np.array([f.get_volume() for f in frames])
    times = res.times_ps[: len(frames)]
    half = len(frames) // 2
    mass = float(reference.get_masses().sum())
    c = crystallinity(frames, reference, min_site_fraction=tolerances.min_site_fraction,
                      max_lindemann=tolerances.max_lindemann, times_ps=times)
    temps = res.thermo.get("temperature_K")
    out.update(time_ps_done=float(times[-1]), density_g_cm3=float(mass / vols[half:].mean() * AMU_A3_TO_G_CM3),
               volume_drift_rel=volume_drift(times, vols), volume_change_rel=float(vols[half:].mean() / vols[0] - 1),
               mean_temperature_K=float(np.mean(temps[len(temps) // 2:])) if temps is not None and len(temps) else None,
               crystallinity=c.to_json(), melted=c.melted,
               traces={"time_ps": times.tolist(), "volume_A3": vols.tolist(),
                       "site_fraction": c.series["site_fraction"]})
    return out
