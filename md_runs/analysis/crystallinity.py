"""Is a crystal still a crystal? Lattice-site occupation, Lindemann index and the first RDF peak.

A bulk crystal run is compared frame by frame with its ideal lattice (the structure the run
started from, ``initial.extxyz`` of a run directory). Positions are compared in *fractional*
coordinates of each frame's own cell, so an NPT run that expands or shears its cell uniformly
is not counted as disorder; the drift of the centre of mass is removed.

- **site fraction**: the fraction of *framework* atoms within ``site_radius`` (1 Å) of their own
  lattice site (minimum image). A crystal at 0.8 Tm keeps ~1.0; a liquid falls towards the
  fraction a random position would have (the 1 Å sphere over the volume per atom) as its atoms
  wander off.
- **Lindemann index**: per-atom root-mean-square fluctuation about its mean position over the
  analysed window (unwrapped), averaged over the framework atoms and divided by their
  nearest-neighbour distance in the ideal lattice. Crystals sit well below ~0.1 up to close to
  melting; a liquid's grows with the window (its atoms diffuse).
- **first RDF peak** of the framework-framework (or all-atom) pairs: position and height of the
  first maximum, at the start and at the end of the run (a melting crystal's peak broadens).

The framework is the anion lattice, one atom per anion: F in LiF, O in Li2O, the C of each CO3 in
Li2CO3 (its O atoms librate; the carbonate's position is the site). Li may hop between sites
legitimately (superionic Li2O near its melting point), the anion lattice may not. For a
one-element crystal (bcc Li) every atom counts.

:func:`crystallinity` measures a trajectory; :func:`is_melted` applies the documented limits
(:data:`MIN_SITE_FRACTION`, :data:`MAX_LINDEMANN`) that both ``seimlip analyze`` (the gate on
transport runs) and ``seimlip validate`` (crystal stability) use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from mlip.errors import UserError

#: an atom is on its site when it is within this distance of it (Å)
SITE_RADIUS_A = 1.0
#: a crystal keeps at least this fraction of its framework atoms on their sites (mean over the
#: last half of the run)
MIN_SITE_FRACTION = 0.9
#: ... and its framework's Lindemann index (3D RMS fluctuation / nearest-neighbour distance, over
#: the last half of the run) stays below this
MAX_LINDEMANN = 0.15


@dataclass
class Crystallinity:
    """The measures of one trajectory (see the module docstring); ``series`` holds per-frame traces."""

    n_frames: int
    n_framework: int
    framework: list[str]                       # elements counted
    site_fraction: float                       # mean over the last half of the frames
    site_fraction_final: float                 # last frame
    li_site_fraction: float | None             # Li on their own sites (last half), None without Li
    rms_displacement_A: float                  # framework RMS distance from the sites, last frame
    lindemann: float                           # over the last half of the frames
    nn_distance_A: float                       # framework nearest-neighbour distance (ideal lattice)
    rdf_first_peak: dict[str, float | None] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    melted: bool = False
    reason: str = ""

    def to_json(self) -> dict:
        return asdict(self)


#: centres of molecular anions (CO3 2-, PF6-): their lattice is the framework, the O/F around them
#: may librate
ANION_CENTRES = ("C", "P")


def framework_mask(symbols: list[str] | np.ndarray) -> np.ndarray:
    """One atom per anion site: the centres of molecular anions (C of CO3) when there are any, else
    every non-Li atom (F, O), or every atom of a pure Li crystal."""
    symbols = np.asarray(symbols)
    centres = np.isin(symbols, ANION_CENTRES)
    if centres.any():
        return centres
    mask = symbols != "Li"
    return mask if mask.any() else np.ones(len(symbols), dtype=bool)


_UNIMODULAR: np.ndarray | None = None


def _unimodular_matrices() -> np.ndarray:
    """Every 3x3 integer matrix with entries -1, 0, 1 and determinant +-1 (changes of lattice basis)."""
    global _UNIMODULAR
    if _UNIMODULAR is None:
        import itertools

        m = np.array(list(itertools.product((-1, 0, 1), repeat=9)), dtype=float).reshape(-1, 3, 3)
        _UNIMODULAR = m[np.isclose(np.abs(np.linalg.det(m)), 1.0)]
    return _UNIMODULAR


def same_basis(cell: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``cell`` rewritten in the lattice basis of ``reference``: inv(U) @ cell with U the change of
    basis that makes the metrics agree best (LAMMPS re-bases triclinic boxes when a tilt passes half
    a box length, and rotates them; neither is a change of the crystal)."""
    g_ref = reference @ reference.T
    g = cell @ cell.T
    u = _unimodular_matrices()
    err = np.linalg.norm(np.einsum("kij,jl,kml->kim", u, g_ref, u) - g, axis=(1, 2)) / np.linalg.norm(g)
    # the metric cannot tell U from -U or from the lattice's own symmetries: among equally good
    # bases take the one closest to the reference's own (largest trace; the identity if it fits)
    tied = np.flatnonzero(err <= err.min() + 1e-6)
    best = u[tied[int(np.argmax(np.trace(u[tied], axis1=1, axis2=2)))]]
    return np.linalg.inv(best) @ cell


def _displacements(frames: list[Atoms], reference: Atoms) -> np.ndarray:
    """[T, N, 3] Cartesian displacements from the reference sites, continuous in time.

    Every frame's cell is first rewritten in the reference's lattice basis (:func:`same_basis` for
    frame 0, which may come from another engine's frame of reference; then the integer change of
    basis from frame to frame), so fractional coordinates mean the same sites throughout. Frame 0
    is compared with the reference by the minimum image in fractional coordinates; later frames add
    each step's minimum-image fractional change, so atoms that wander further than half a cell stay
    unwrapped. Every step is taken in the cell of the frame it ends in.
    """
    s_ref = reference.get_scaled_positions(wrap=False)
    cells = []
    previous = same_basis(np.array(frames[0].cell), np.array(reference.cell))
    for f in frames:
        c = np.array(f.cell)
        u = np.round(c @ np.linalg.inv(previous))  # the integer change of basis since the last frame
        previous = np.linalg.inv(u) @ c if abs(abs(np.linalg.det(u)) - 1) < 1e-6 else previous
        cells.append(previous)
    cells = np.array(cells)
    s = np.array([f.positions @ np.linalg.inv(c) for f, c in zip(frames, cells)])
    first = s[0] - s_ref
    first -= np.round(first)
    steps = np.diff(s, axis=0)
    steps -= np.round(steps)
    frac = np.concatenate([first[None], first[None] + np.cumsum(steps, axis=0)])
    return np.einsum("tnk,tkl->tnl", frac, cells)


def _nn_distance(reference: Atoms, mask: np.ndarray) -> float:
    from ase.neighborlist import neighbor_list

    sub = reference[np.flatnonzero(mask)]
    sub.pbc = True
    for cutoff in (4.0, 6.0, 9.0):
        i, d = neighbor_list("id", sub, cutoff)
        if len(d):
            return float(d.min())
    return float("nan")


def first_rdf_peak(frames: list[Atoms], mask: np.ndarray, rmax: float = 6.0, nbins: int = 120) -> dict[str, float | None]:
    """Position (Å) and height of the first maximum of the g(r) of the ``mask`` atoms over ``frames``."""
    from ase.neighborlist import neighbor_list

    if not frames:
        return {"r_A": None, "height": None}
    edges = np.linspace(0.0, rmax, nbins + 1)
    hist = np.zeros(nbins)
    n = int(mask.sum())
    density = 0.0
    for f in frames:
        sub = f[np.flatnonzero(mask)]
        sub.pbc = True
        d = neighbor_list("d", sub, rmax)
        hist += np.histogram(d, edges)[0]
        density += n / sub.get_volume()
    density /= len(frames)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = hist / (len(frames) * n * density * shell)
    r = 0.5 * (edges[1:] + edges[:-1])
    if not g.any():
        return {"r_A": None, "height": None}
    # the first maximum: the running maximum above g = 1 until g falls below 60 % of it
    best = None
    for k in range(len(g)):
        if g[k] > 1.0 and (best is None or g[k] > g[best]):
            best = k
        elif best is not None and g[k] < 0.6 * g[best]:
            break
    if best is None:
        best = int(np.argmax(g))
    k = best
    return {"r_A": float(r[k]), "height": float(g[k])}


def crystallinity(frames: list[Atoms], reference: Atoms | None = None, *, site_radius: float = SITE_RADIUS_A,
                  min_site_fraction: float = MIN_SITE_FRACTION, max_lindemann: float = MAX_LINDEMANN,
                  times_ps: np.ndarray | None = None) -> Crystallinity:
    """Crystallinity of ``frames`` against the lattice sites of ``reference`` (default: frame 0)."""
    if not frames:
        raise UserError("no frames to measure crystallinity on")
    reference = frames[0] if reference is None else reference
    n = len(reference)
    if any(len(f) != n for f in frames):
        raise UserError(f"frames and the reference lattice differ in atom count ({n} vs {len(frames[-1])})")
    symbols = np.array(reference.get_chemical_symbols())
    if any(list(f.get_chemical_symbols()) != list(symbols) for f in (frames[0], frames[-1])):
        raise UserError("frames and the reference lattice list different elements in atom order")
    mask = framework_mask(symbols)
    disp = _displacements(frames, reference)
    disp -= disp[:, mask].mean(axis=1, keepdims=True)  # centre-of-mass drift of the framework
    dist = np.linalg.norm(disp, axis=2)
    on_site = dist < site_radius
    frac = on_site[:, mask].mean(axis=1)
    half = len(frames) // 2
    li = symbols == "Li"
    li_frac = float(on_site[half:, li].mean()) if li.any() and mask.sum() < n else None
    window = disp[half:, mask] if len(frames) - half >= 2 else disp[:, mask]
    fluct = np.sqrt(((window - window.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0))  # per atom
    nn = _nn_distance(reference, mask)
    lindemann = float(fluct.mean() / nn) if nn > 0 else float("nan")
    k = max(1, min(5, len(frames) // 5))
    peak_start, peak_end = first_rdf_peak(frames[:k], mask), first_rdf_peak(frames[-k:], mask)
    site_fraction = float(frac[half:].mean())
    reasons = []
    if site_fraction < min_site_fraction:
        reasons.append(f"only {site_fraction:.0%} of the {'/'.join(sorted(set(symbols[mask])))} atoms stay within "
                       f"{site_radius:g} Å of their lattice sites (crystal: >= {min_site_fraction:.0%})")
    if lindemann > max_lindemann:
        reasons.append(f"Lindemann index {lindemann:.2f} > {max_lindemann:g}")
    times = np.arange(len(frames), dtype=float) if times_ps is None else np.asarray(times_ps, dtype=float)
    return Crystallinity(
        n_frames=len(frames), n_framework=int(mask.sum()), framework=sorted(set(symbols[mask].tolist())),
        site_fraction=site_fraction, site_fraction_final=float(frac[-1]), li_site_fraction=li_frac,
        rms_displacement_A=float(np.sqrt((dist[-1, mask] ** 2).mean())), lindemann=lindemann, nn_distance_A=nn,
        rdf_first_peak={"start_r_A": peak_start["r_A"], "start_height": peak_start["height"],
                        "end_r_A": peak_end["r_A"], "end_height": peak_end["height"]},
        series={"time_ps": times.tolist(), "site_fraction": frac.tolist(),
                "rms_displacement_A": np.sqrt((dist[:, mask] ** 2).mean(axis=1)).tolist()},
        melted=bool(reasons), reason="; ".join(reasons))


# --- the analysis of a transport run (``seimlip analyze``) ------------------------------------------
BULK_CRYSTALS = ("LiF", "Li2O", "Li2CO3", "Li")


def is_bulk_crystal_run(run) -> bool:
    """A run of a bulk crystal (an SEI phase or bcc Li), not an interface or a liquid."""
    return run.info.surface_normal is None and bool(run.info.formula_unit or run.info.system in BULK_CRYSTALS)


def reference_lattice(run) -> Atoms:
    """The ideal lattice a run started from (``initial.extxyz``), else its first frame."""
    from ase.io import read

    path = run.path / "initial.extxyz"
    first = run.frames[0]
    if path.is_file():
        try:
            atoms = read(path)
        except Exception:  # noqa: BLE001 - an unreadable initial file: fall back to frame 0
            return first
        if len(atoms) == len(first) and atoms.get_chemical_symbols() == first.get_chemical_symbols():
            return atoms
    return first


def crystallinity_result(run, png):
    """The ``crystallinity`` analysis of a bulk crystal run (AnalysisResult + PNG)."""
    from md_runs.analysis.common import run_provenance
    from md_runs.analysis.plotting import figure, save_png
    from md_runs.analysis.result import AnalysisResult, Quantity

    ref = reference_lattice(run)
    c = crystallinity(run.frames, ref, times_ps=run.times_ps)
    meta = {"temperature_K": run.info.temperature_K, "system": run.info.system, "melted": c.melted,
            "lindemann": c.lindemann, "site_fraction_final": c.site_fraction_final,
            "li_site_fraction": c.li_site_fraction, "framework": c.framework, "reason": c.reason,
            "rdf_first_peak": c.rdf_first_peak}
    q = Quantity(c.site_fraction, None, "1", f"fraction of {'/'.join(c.framework)} atoms within {SITE_RADIUS_A:g} Å "
                 "of their lattice sites (last half of the run)", meta)
    fig, (ax,) = figure(1, 5.0, 3.4)
    ax.plot(c.series["time_ps"], c.series["site_fraction"], lw=1)
    ax.axhline(MIN_SITE_FRACTION, ls="--", color="k", lw=0.8, label=f"crystal >= {MIN_SITE_FRACTION:g}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("framework atoms on their sites")
    ax.set_title(f"crystallinity: {run.info.name}" + (" (MELTED)" if c.melted else ""), fontsize=9)
    ax.legend(fontsize=7)
    save_png(fig, png)
    window = (float(run.times_ps[0]), float(run.times_ps[-1]))
    return AnalysisResult("crystallinity", {"crystallinity": q},
                          {"crystallinity": {k: list(v) for k, v in c.series.items()}},
                          run_provenance(run, window, reference="initial.extxyz" if ref is not run.frames[0] else "frame 0"),
                          [png.name])


def mark_phase_state(results: dict, crystal) -> None:
    """Put the run's crystallinity on every quantity of its other analyses; a melted crystal's Li
    motion is never 'diffusive' (it is a liquid's, not defect transport in the SEI phase)."""
    q = crystal.quantities["crystallinity"]
    melted = bool(q.meta["melted"])
    for kind, result in results.items():
        if kind == "crystallinity":
            continue
        for value in result.quantities.values():
            for item in value if isinstance(value, list) else [value]:
                item.meta["melted"] = melted
                item.meta["crystallinity"] = q.mean
                if melted:
                    item.meta["phase_state"] = "melted or amorphised: " + q.meta["reason"]
                    if "diffusive" in item.meta:
                        item.meta["diffusive"] = False
