"""Li hops between lattice sites, and what a defect run's Li MSD says about the defect.

Li moves through a crystalline SEI phase by point defects: a run holds one interstitial (or one
vacancy) among N Li, and every Li displacement is a hop of that defect or of the atoms it
passes. ``count_hops`` turns a trajectory into site-to-site hops:

- sites: the perfect crystal's Li sites plus its interstitial holes (``md_runs.builders``);
- each frame, an atom within ``capture`` Å of a site occupies it; an atom farther from every
  site keeps the site it had (it is in flight), so vibrations never count as hops;
- a hop is a change of occupied site; ``min_residence`` frames at the new site are required
  (a return to the old site before that undoes it: rattling across a saddle is not a hop).

Diffusivities (3-D, Einstein): the tracer diffusivity of Li is D* = Σ_i MSD_i / (6 N_Li t).
The N_Li atoms share the displacement that n_d defects cause, so the defect's own diffusivity is
D_d = Σ_i MSD_i / (6 n_d t) = D* N_Li / n_d (interstitial mechanism, ignoring the correlation
factor f ≈ 1 of a dilute interstitial; for a vacancy f < 1 applies to D*, not to D_d). With
uncorrelated hops of length λ at total rate Γ (hops per unit time, all atoms), the hop count
gives the same: Σ_i MSD_i = Γ t λ², so D_d = Γ λ² / (6 n_d). PyBaMM's "SEI lithium interstitial
diffusivity" is D_d of the interstitial.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

#: fewer hops than this and a diffusivity is flagged as statistically unreliable (sigma ~ 1/sqrt(n))
MIN_HOPS = 20


@dataclass
class HopCount:
    n_hops: int
    n_atoms: int
    frames: int
    hops_per_atom: list[int]
    events: list[tuple[int, int, int, int]] = field(default_factory=list)  # (frame, atom, from site, to site)
    mean_hop_length: float = 0.0  # Å, minimum-image site-to-site distance
    enough: bool = False  # n_hops >= MIN_HOPS

    def as_dict(self) -> dict:
        d = asdict(self)
        d["events"] = [list(e) for e in self.events[:1000]]  # keep the JSON bounded
        return d


def _nearest(frac_pos: np.ndarray, frac_sites: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(site index, distance Å) of the nearest site to each position, minimum image."""
    d = frac_pos[:, None, :] - frac_sites[None, :, :]
    d -= np.round(d)
    dist = np.linalg.norm(d @ cell, axis=2)
    k = dist.argmin(axis=1)
    return k, dist[np.arange(len(k)), k]


def count_hops(positions: np.ndarray, cell: np.ndarray, sites: np.ndarray, capture: float = 0.7,
               min_residence: int = 2) -> HopCount:
    """Hops of the atoms whose positions ([T, N, 3], Å, wrapped or not) are given, between
    ``sites`` ([M, 3], Å) of a fixed ``cell`` (see the module doc)."""
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise ValueError("positions must be [frames, atoms, 3]")
    cell = np.asarray(cell, dtype=float)
    inv = np.linalg.inv(cell)
    frac_sites = np.asarray(sites, dtype=float) @ inv
    t_frames, n = positions.shape[:2]
    current = np.full(n, -1)
    pending = np.full(n, -1)  # candidate new site, not yet held min_residence frames
    held = np.zeros(n, dtype=int)
    hops = np.zeros(n, dtype=int)
    events: list[tuple[int, int, int, int]] = []
    lengths: list[float] = []
    for t in range(t_frames):
        k, dist = _nearest(positions[t] @ inv, frac_sites, cell)
        at = dist <= capture
        for i in np.flatnonzero(at):
            site = int(k[i])
            if current[i] < 0:
                current[i] = site
                continue
            if site == current[i]:
                pending[i], held[i] = -1, 0  # back home: an attempted hop that did not stick
                continue
            if site != pending[i]:
                pending[i], held[i] = site, 0
            held[i] += 1
            if held[i] >= min_residence:
                d = frac_sites[site] - frac_sites[current[i]]
                d -= np.round(d)
                lengths.append(float(np.linalg.norm(d @ cell)))
                events.append((t - min_residence + 1, int(i), int(current[i]), site))
                hops[i] += 1
                current[i], pending[i], held[i] = site, -1, 0
    total = int(hops.sum())
    return HopCount(n_hops=total, n_atoms=n, frames=t_frames, hops_per_atom=hops.tolist(), events=events,
                    mean_hop_length=float(np.mean(lengths)) if lengths else 0.0, enough=total >= MIN_HOPS)


def defect_diffusivity(tracer_diffusivity: float, n_mobile: int, n_defects: int) -> float:
    """D_d = D* N_Li / n_d (module doc): the diffusivity of the defect from the Li tracer one."""
    if n_defects < 1:
        raise ValueError("a defect diffusivity needs at least one defect in the cell")
    return float(tracer_diffusivity) * int(n_mobile) / int(n_defects)


def hop_diffusivity(hops: HopCount, duration_s: float, n_defects: int) -> float:
    """D_d = Γ λ² / (6 n_d) in m²/s from a hop count over ``duration_s`` seconds."""
    if duration_s <= 0 or n_defects < 1:
        raise ValueError("need a positive duration and at least one defect")
    rate = hops.n_hops / duration_s
    return rate * (hops.mean_hop_length * 1e-10) ** 2 / (6 * n_defects)


__all__ = ["MIN_HOPS", "HopCount", "count_hops", "defect_diffusivity", "hop_diffusivity"]
