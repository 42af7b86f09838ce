"""Selection as in DP-GEN: trust levels on the committee's max force deviation, then a diverse
budget by farthest-point sampling on learned descriptors.

- ``classify``: below ``trust_lo`` a frame is ``accurate``, above ``trust_hi`` ``discarded``
  (unphysical for the model), in between a ``candidate``;
- ``unphysical_reason``: atoms too close (the data validator's thresholds), exploded or skewed
  boxes — such frames never reach the oracle;
- ``farthest_point_sampling``: greedy max-min picks, starting far from the already labelled set;
  picks closer than ``duplicate_distance`` to a labelled frame or an earlier pick are duplicates.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

MAX_SKEW_DEG = 30.0  # a cell angle further than this from 90 degrees is a skewed box
MAX_VOLUME_CHANGE = 3.0  # ratio to the reference volume beyond which a box has exploded


def classify(max_force_dev: float, lo: float, hi: float) -> str:
    if not np.isfinite(max_force_dev) or max_force_dev > hi:
        return "discarded"
    return "accurate" if max_force_dev < lo else "candidate"


def unphysical_reason(atoms: Atoms, reference_volume: float | None = None) -> str | None:
    """Why ``atoms`` must not be labelled (None when it is fine)."""
    from mlip.data.validate import frame_problems

    problems = frame_problems(atoms, require_labels=False)
    if problems:
        return problems[0]
    if atoms.cell.rank == 3:
        angles = atoms.cell.cellpar()[3:]
        if np.any(np.abs(angles - 90.0) > MAX_SKEW_DEG):
            return f"skewed box (cell angles {np.round(angles, 1).tolist()})"
        if reference_volume:
            ratio = atoms.get_volume() / reference_volume
            if ratio > MAX_VOLUME_CHANGE or ratio < 1.0 / MAX_VOLUME_CHANGE:
                return f"exploded box (volume x{ratio:.2f})"
    return None


def farthest_point_sampling(candidates: np.ndarray, budget: int, labelled: np.ndarray | None = None,
                            duplicate_distance: float = 0.0, seed: int = 0) -> tuple[list[int], list[int]]:
    """(picked, duplicates): indices into ``candidates``; at most ``budget`` picks.

    Each pick maximises its distance to the labelled set and the earlier picks (the first one,
    with no labelled set, is drawn with ``seed``). A candidate whose distance falls below
    ``duplicate_distance`` is a duplicate and never picked.
    """
    n = len(candidates)
    if n == 0 or budget <= 0:
        return [], []
    x = np.asarray(candidates, dtype=float)
    dmin = np.full(n, np.inf)
    if labelled is not None and len(labelled):
        for row in np.asarray(labelled, dtype=float):
            dmin = np.minimum(dmin, np.linalg.norm(x - row, axis=1))
    picked: list[int] = []
    available = np.ones(n, dtype=bool)
    duplicates = set(np.flatnonzero(dmin < duplicate_distance).tolist())
    available[list(duplicates)] = False
    rng = np.random.default_rng(seed)
    while len(picked) < budget and available.any():
        if np.isinf(dmin[available]).all():
            k = int(rng.choice(np.flatnonzero(available)))
        else:
            k = int(np.flatnonzero(available)[np.argmax(dmin[available])])
        picked.append(k)
        available[k] = False
        dmin = np.minimum(dmin, np.linalg.norm(x - x[k], axis=1))
        new = np.flatnonzero(available & (dmin < duplicate_distance))
        duplicates.update(new.tolist())
        available[new] = False
    return picked, sorted(duplicates)


__all__ = ["classify", "farthest_point_sampling", "unphysical_reason"]
