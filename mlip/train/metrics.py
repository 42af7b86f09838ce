"""Error metrics of predictions against labels, and batched predictions of a Potential.

Errors are accumulated per frame as sums (absolute and squared errors and their counts), so the
same code serves a single process, DDP validation (sums are all-reduced) and per-config_type
tables. Conventions: energies per atom; force errors per Cartesian component; stress in eV/Å^3
(ASE Voigt) over frames that carry a stress label.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch

from mlip.data.graph import atoms_to_graph, collate, label_weights
from mlip.model.output import energy_forces_stress

# columns of the per-frame error-sum table
E_ABS, E_SQ, N_E, F_ABS, F_SQ, N_F, S_ABS, S_SQ, N_S, N_FRAMES = range(10)
N_SUMS = 10


def frame_error_sums(pred: dict, graph) -> torch.Tensor:
    """[B, N_SUMS] float64 error sums per frame of a batch (labels absent -> zero counts). A label
    whose per-frame weight is 0 (a cell not converged for it: ``config_energy_weight`` ...) is
    not counted either: it is not a reference value to be judged against."""
    B = graph.num_graphs
    out = torch.zeros(B, N_SUMS, dtype=torch.float64, device=pred["energy"].device)
    out[:, N_FRAMES] = 1.0
    counted = [(graph.weights(k) > 0).double() for k in range(3)]
    if graph.energy is not None:
        d = ((pred["energy"].detach() - graph.energy) / graph.n_atoms).double() * counted[0]
        out[:, E_ABS], out[:, E_SQ], out[:, N_E] = d.abs(), d.square(), counted[0]
    if graph.forces is not None:
        idx = graph.batch
        d = (pred["forces"].detach() - graph.forces).double() * counted[1][idx, None]
        out[:, F_ABS].index_add_(0, idx, d.abs().sum(1))
        out[:, F_SQ].index_add_(0, idx, d.square().sum(1))
        out[:, N_F].index_add_(0, idx, 3.0 * counted[1][idx])
    if graph.stress is not None and "stress" in pred:
        d = (pred["stress"].detach() - graph.stress).double()
        has = ~torch.isnan(d).any(1) & (counted[2] > 0)
        d = torch.where(has[:, None], d, torch.zeros_like(d))
        out[:, S_ABS], out[:, S_SQ], out[:, N_S] = d.abs().sum(1), d.square().sum(1), 6.0 * has
    return out


def metrics_from_sums(s: torch.Tensor | np.ndarray) -> dict:
    """Error sums (one row, or many rows to add) -> the metric dict of the JSON output."""
    s = torch.as_tensor(s, dtype=torch.float64)
    if s.dim() == 2:
        s = s.sum(0)
    s = s.tolist()

    def ratio(a, n, sqrt=False):
        if s[n] == 0:
            return None
        v = s[a] / s[n]
        return math.sqrt(v) if sqrt else v

    return {
        "energy_mae_per_atom": ratio(E_ABS, N_E),
        "energy_rmse_per_atom": ratio(E_SQ, N_E, True),
        "force_mae": ratio(F_ABS, N_F),
        "force_rmse": ratio(F_SQ, N_F, True),
        "stress_mae": ratio(S_ABS, N_S),
        "stress_rmse": ratio(S_SQ, N_S, True),
        "n_frames": int(s[N_FRAMES]),
    }


def predict(model, frames, batch_size: int = 16, device: str | torch.device = "cpu", progress=None) -> list[dict]:
    """Energy, forces and stress of ``model`` (a Potential) on each frame, as numpy arrays."""
    dtype = next(model.parameters()).dtype
    model = model.to(device)
    out: list[dict] = []
    for start in range(0, len(frames), batch_size):
        chunk = frames[start:start + batch_size]
        graph = collate([atoms_to_graph(a, model.species, model.cutoff) for a in chunk]).to(device=device, dtype=dtype)
        pred = energy_forces_stress(model, graph, training=False)
        splits = graph.n_atoms.tolist()
        forces = pred["forces"].detach().cpu().double().numpy()
        offs = np.cumsum([0] + splits)
        for k in range(len(chunk)):
            out.append({
                "energy": float(pred["energy"][k]),
                "forces": forces[offs[k]:offs[k + 1]],
                "stress": pred["stress"][k].detach().cpu().double().numpy() if "stress" in pred else None,
            })
        if progress is not None:
            progress(len(chunk))
    return out


def frame_sums_from_predictions(frames, preds) -> np.ndarray:
    """Per-frame error sums like :func:`frame_error_sums` (weight-0 labels not counted)."""
    rows = np.zeros((len(frames), N_SUMS))
    for k, (atoms, p) in enumerate(zip(frames, preds)):
        r = rows[k]
        r[N_FRAMES] = 1
        w = label_weights(atoms)
        counted = (True, True, True) if w is None else tuple(bool(x > 0) for x in w)
        if atoms.info.get("energy") is not None and counted[0]:
            d = (p["energy"] - atoms.info["energy"]) / len(atoms)
            r[E_ABS], r[E_SQ], r[N_E] = abs(d), d * d, 1
        if "forces" in atoms.arrays and counted[1]:
            d = p["forces"] - atoms.arrays["forces"]
            r[F_ABS], r[F_SQ], r[N_F] = np.abs(d).sum(), (d * d).sum(), d.size
        if atoms.info.get("stress") is not None and p.get("stress") is not None and counted[2]:
            d = np.asarray(p["stress"]) - np.asarray(atoms.info["stress"], float).reshape(-1)[:6]
            if np.isfinite(d).all():
                r[S_ABS], r[S_SQ], r[N_S] = np.abs(d).sum(), (d * d).sum(), 6
    return rows


def metrics_by_config_type(frames, preds) -> dict:
    """The JSON document: overall metrics plus ``per_config_type``."""
    rows = frame_sums_from_predictions(frames, preds)
    types = [str(a.info.get("config_type", "default")) for a in frames]
    result = metrics_from_sums(rows) if len(frames) else metrics_from_sums(np.zeros(N_SUMS))
    per = OrderedDict()
    for t in sorted(set(types)):
        mask = np.array([x == t for x in types])
        per[t] = metrics_from_sums(rows[mask])
    result["per_config_type"] = per
    return result
