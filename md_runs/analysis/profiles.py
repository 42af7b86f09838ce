"""Profiles along the surface normal and SEI thickness vs time with linear/parabolic growth fits.

SEI thickness is the *equivalent thickness*: the volume of the SEI formula units found by
:func:`md_runs.analysis.species.classify` (count x volume per unit, :data:`SEI_VOLUME_A3`) spread
over the interface area, divided by the number of metal faces in contact with the electrolyte
(2 for a slab whose both faces see the liquid through the periodic boundary). It is robust for
the few-nm cells MD can afford, where a geometric edge of a patchy SEI is ill-defined.

Growth laws fitted to d(t): linear d = d0 + k t (rate in m/s) and parabolic d^2 = d0^2 + k t
(diffusion-limited; constant in m^2/s). The law with the smaller residual in d wins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from md_runs.analysis.common import run_provenance, window_start
from md_runs.analysis.config import AnalysisConfig
from md_runs.analysis.plotting import figure, save_png
from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.analysis.species import LI_METAL, SEI_VOLUME_A3, FrameSpecies
from md_runs.trajectory import Run

AMU_PER_A3_TO_G_CM3 = 1.66053906660
#: non-metal atoms within this distance (Å) beyond the outermost metal layer make that face an interface
FACE_CONTACT_A = 5.0


def _normal_coords(atoms, axis: int) -> tuple[np.ndarray, float, float]:
    """Fractional-wrapped coordinate along cell axis ``axis`` (Å), its period and the lateral area."""
    cell = np.array(atoms.cell)
    frac = atoms.get_scaled_positions(wrap=True)[:, axis]
    normal = np.cross(cell[(axis + 1) % 3], cell[(axis + 2) % 3])
    area = float(np.linalg.norm(normal))
    height = float(abs(np.dot(cell[axis], normal)) / area)
    return frac * height, height, area


def metal_faces(atoms, labels: np.ndarray, axis: int) -> int:
    """How many faces of the Li metal touch non-metal atoms (0 without metal; 1 or 2 otherwise)."""
    z, height, _ = _normal_coords(atoms, axis)
    metal = labels == LI_METAL
    if not metal.any():
        return 1
    zm = np.sort(z[metal])
    gaps = np.diff(np.concatenate([zm, [zm[0] + height]]))
    k = int(np.argmax(gaps))
    top, bottom = zm[k], zm[(k + 1) % len(zm)]
    other = z[~metal]
    above = (other - top) % height
    below = (bottom - other) % height
    return max(1, int((above < FACE_CONTACT_A).any()) + int((below < FACE_CONTACT_A).any()))


def sei_thickness_A(atoms, species: FrameSpecies, axis: int, faces: int) -> float:
    _, _, area = _normal_coords(atoms, axis)
    volume = sum(species.counts.get(name, 0) * v for name, v in SEI_VOLUME_A3.items())
    return float(volume / (area * faces))


def normal_axis_label(axis: int) -> str:
    """The profiles' x label: which cell vector the surface normal is (a, b, c), not an index."""
    return f"height along the surface normal, cell vector {'abc'[axis]} (Å)"


def fit_growth(t_ps: np.ndarray, d_A: np.ndarray) -> list[Quantity]:
    """Linear and parabolic growth fits (SI: m/s and m^2/s), the better one marked ``preferred``."""
    t = np.asarray(t_ps, float) * 1e-12
    d = np.asarray(d_A, float) * 1e-10
    out = []
    for law, y, unit in (("linear", d, "m/s"), ("parabolic", d**2, "m2/s")):
        if len(t) < 3 or np.ptp(t) == 0:
            return []
        coef, cov = np.polyfit(t, y, 1, cov="unscaled")
        resid_y = y - np.polyval(coef, t)
        dof = max(len(t) - 2, 1)
        cov = cov * float(resid_y @ resid_y) / dof
        pred = np.polyval(coef, t) if law == "linear" else np.sqrt(np.clip(np.polyval(coef, t), 0, None))
        rss = float(((d - pred) ** 2).sum())
        out.append(Quantity(float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0))), unit,
                            f"least squares of {'d' if law == 'linear' else 'd^2'} vs t",
                            {"law": law, "intercept": float(coef[1]), "rss_m2": rss}))
    best = min(out, key=lambda q: q.meta["rss_m2"])
    for q in out:
        q.meta["preferred"] = q is best
    return out


def _histograms(run: Run, idx: list[int], axis: int, labels: list[np.ndarray], bin_A: float):
    z0, height, area = _normal_coords(run.frames[idx[0]], axis)
    edges = np.arange(0.0, height + bin_A, bin_A)
    centres = 0.5 * (edges[1:] + edges[:-1])
    vol = area * np.diff(edges)
    elem: dict[str, np.ndarray] = {}
    spec: dict[str, np.ndarray] = {}
    mass = np.zeros(len(centres))
    for k, frame_labels in zip(idx, labels):
        atoms = run.frames[k]
        z, _, _ = _normal_coords(atoms, axis)
        symbols = np.array(atoms.get_chemical_symbols())
        for el in np.unique(symbols):
            h = np.histogram(z[symbols == el], edges)[0] / vol / len(idx)
            elem[el] = elem.get(el, 0) + h
            mass += h * atomic_masses[atomic_numbers[el]]
        for name in np.unique(frame_labels):
            spec[name] = spec.get(name, 0) + np.histogram(z[frame_labels == name], edges)[0] / vol / len(idx)
    return centres, elem, spec, mass * AMU_PER_A3_TO_G_CM3


def profiles_result(run: Run, frame_of: list[int], times: np.ndarray, series: list[FrameSpecies],
                    config: AnalysisConfig, png: Path) -> AnalysisResult:
    """Element/species density profiles (last window) and SEI thickness vs time with growth fits."""
    axis = int(run.info.surface_normal)
    start = window_start(len(series), config.profile_window_fraction)
    window = list(range(start, len(series)))
    centres, elem, spec, rho = _histograms(run, [frame_of[s] for s in window], axis,
                                           [series[s].atom_species for s in window], config.profile_bin_A)
    faces = metal_faces(run.frames[0], series[0].atom_species, axis)
    thick = np.array([sei_thickness_A(run.frames[f], s, axis, faces) for f, s in zip(frame_of, series)])
    growth = fit_growth(times, thick)
    last, last_err = float(thick[-1]), None
    quantities: dict = {"sei_thickness": Quantity(last * 1e-10, last_err, "m", "equivalent thickness (profiles.py)",
                                                  {"time_ps": float(times[-1]), "faces": faces})}
    if growth:
        quantities["sei_growth_rate"] = growth
    tables = {
        "element_density": {"z_A": centres.tolist(), **{f"{el}_per_A3": v.tolist() for el, v in elem.items()},
                            "mass_density_g_cm3": rho.tolist()},
        "species_density": {"z_A": centres.tolist(), **{f"{n}_atoms_per_A3": v.tolist() for n, v in spec.items()}},
        "sei_thickness": {"time_ps": times.tolist(), "thickness_A": thick.tolist()},
    }
    fig, axes = figure(3, 4.6, 4.0)
    where = normal_axis_label(axis)
    for el, v in elem.items():
        axes[0].plot(centres, v, label=el)
    axes[0].set_xlabel(where)
    axes[0].set_ylabel("atoms / Å³ (by element)")
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(6, max(1, len(elem))))
    for name, v in spec.items():
        axes[1].plot(centres, v, label=name)
    axes[1].set_xlabel(where)
    axes[1].set_ylabel("atoms / Å³ (by species)")
    axes[1].legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(4, max(1, len(spec))))
    axes[2].plot(times, thick, "o", ms=3, label="SEI (equivalent thickness)")
    if not np.any(thick > 0):
        axes[2].text(0.5, 0.75, "no SEI species on the metal at any frame:\nthickness 0 Å, no growth law to fit",
                     transform=axes[2].transAxes, ha="center", va="center", fontsize=8)
    else:
        for q in growth:
            c = [q.mean * 1e-12, q.meta["intercept"]]  # per ps
            fit = np.polyval(c, times) * 1e10 if q.meta["law"] == "linear" else \
                np.sqrt(np.clip(np.polyval(c, times), 0, None)) * 1e10
            axes[2].plot(times, fit, label=f"{q.meta['law']} fit" + (" (smaller residual)" if q.meta["preferred"] else ""))
    axes[2].set_xlabel("time (ps)")
    axes[2].set_ylabel("SEI thickness (Å)")
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.suptitle(f"profiles: {run.info.name}", fontsize=9)
    save_png(fig, png)
    win = (float(times[start]), float(times[-1]))
    return AnalysisResult("profiles", quantities, tables,
                          run_provenance(run, win, surface_normal=axis, bin_A=config.profile_bin_A), [png.name])
