"""Neighbour lists through vesin: periodic, mixed-periodic (slabs) and open cells alike.

Pairs are *directed* and full (both i->j and j->i), self-pairs at zero distance excluded, periodic
images included however many fit inside the cutoff (small cells with a cutoff larger than the cell
give many images of the same atom). The edge vector of pair (i, j, S) is
``positions[j] - positions[i] + S @ cell``.
"""

from __future__ import annotations

import numpy as np
import vesin

from mlip.errors import UserError


def neighbor_list(
    positions: np.ndarray,
    cell: np.ndarray,
    pbc,
    cutoff: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, S)``: centres, neighbours and integer cell shifts ``S`` ([E,3]) of all pairs closer than
    ``cutoff``, sorted by centre ``i`` (then by neighbour ``j``).

    ``pbc`` is one bool or three; directions that are not periodic ignore the cell vector (which
    may then be zero).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    if cutoff <= 0:
        raise UserError(f"neighbour cutoff must be positive, got {cutoff}")
    n = len(positions)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 3), dtype=np.int64)
    if pbc.any():
        if abs(np.linalg.det(cell[pbc] @ cell[pbc].T)) < 1e-12:
            raise UserError("periodic cell vectors are zero or linearly dependent")
        cell = np.where(pbc[:, None], cell, 0.0)  # open directions never wrap: vesin ignores them
    else:
        cell = np.zeros((3, 3))
    calc = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts = calc.compute(positions, cell, pbc, quantities="ijS", copy=True)
    i = i.astype(np.int64)
    j = j.astype(np.int64)
    shifts = shifts.astype(np.int64)
    order = np.lexsort((j, i))
    return i[order], j[order], shifts[order]
