"""Weighted energy-per-atom / force / stress loss, exact under any split of a batch over ranks.

Each term is returned as a *sum* over its items plus the item count, so DDP ranks can add their
sums and counts before dividing: the loss of a global batch does not depend on how it is split.
"""

from __future__ import annotations

import torch

from mlip.train.config import LossConfig, LossWeights

TERMS = ("energy", "forces", "stress", "head_nll", "head_force_nll")
NLL_VARIANCE_FLOOR = 1e-8  # (eV/atom)^2 added to the heads' variance: a std floor of 0.1 meV/atom
FORCE_NLL_VARIANCE_FLOOR = 1e-6  # (eV/Å)^2: a floor of 1 meV/Å on the per-atom force std


def _penalty(diff: torch.Tensor, kind: str, delta: float) -> torch.Tensor:
    if kind == "huber":
        return torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=delta)
    return diff.square()


def loss_terms(pred: dict, graph, kind: str = "mse", delta: float = 0.01) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{term: (sum of weighted penalties, number of items)} for the labels ``graph`` carries.

    Per-frame label weights (``graph.label_weights``) multiply each frame's penalties; items of a
    zero-weight frame are not counted, so a frame without a trusted energy changes nothing there.
    """
    n_atoms = graph.n_atoms.to(pred["energy"].dtype)
    out = {}
    if graph.energy is not None:
        w = graph.weights(0).to(pred["energy"].dtype)
        d = (pred["energy"] - graph.energy) / n_atoms
        used = w > 0
        out["energy"] = ((w * _penalty(d, kind, delta))[used].sum(), used.sum().to(d.dtype))
        if "head_energy_dev" in pred:
            out["head_nll"] = ((w * head_nll(pred, graph))[used].sum(), used.sum().to(d.dtype))
    if graph.forces is not None:
        w = graph.weights(1).to(pred["forces"].dtype)[graph.batch]
        d = pred["forces"] - graph.forces
        used = w > 0
        out["forces"] = ((w[:, None] * _penalty(d, kind, delta))[used].sum(), 3 * used.sum().to(d.dtype))
        if "head_node_dev" in pred:
            out["head_force_nll"] = ((w * head_force_nll(pred, graph))[used].sum(), used.sum().to(d.dtype))
    if graph.stress is not None and "stress" in pred:
        w = graph.weights(2).to(pred["stress"].dtype)
        has = ~torch.isnan(graph.stress).any(dim=1) & (w > 0)
        d = pred["stress"][has] - graph.stress[has]
        out["stress"] = ((w[has][:, None] * _penalty(d, kind, delta)).sum(), torch.tensor(float(d.numel())))
    return out


def head_nll(pred: dict, graph) -> torch.Tensor:
    """Shallow-ensemble Gaussian NLL per frame (Kellner & Ceriotti 2024) of the per-atom energy,
    0.5 (log s^2 + (e_ref - e)^2 / s^2) with s^2 the heads' variance. The mean e is detached: the
    energy/force terms fit the mean, this term only makes the heads' spread match its error."""
    n_atoms = graph.n_atoms.to(pred["energy"].dtype)
    var = (pred["head_energy_dev"] / n_atoms.unsqueeze(1)).square().mean(1) + NLL_VARIANCE_FLOOR
    err = (pred["energy"].detach() - graph.energy) / n_atoms
    return 0.5 * (var.log() + err.square() / var)


def head_force_nll(pred: dict, graph) -> torch.Tensor:
    """Gaussian NLL per atom of its force error, with the heads' per-atom energy spread as the
    force std: 0.5 (log s_i^2 + |F_i - F_i^ref|^2 / (3 s_i^2)), s_i^2 = var_k(E_ik) read in (eV/Å)^2.
    The forces are detached: this term only teaches the heads' local spread where forces go wrong,
    which the deployed model then reports at no extra cost (no per-head forces are needed)."""
    var = pred["head_node_dev"].square().mean(1) + FORCE_NLL_VARIANCE_FLOOR
    err2 = (pred["forces"].detach() - graph.forces).square().mean(1)
    return 0.5 * (var.log() + err2 / var)


def weighted_loss(terms: dict, counts: dict[str, float], weights: LossWeights) -> torch.Tensor:
    """sum_t w_t * sum_t / count_t, with ``counts`` the (global) item counts of each term."""
    total = None
    for name, (s, _) in terms.items():
        w = getattr(weights, name)
        if w == 0 or counts.get(name, 0) == 0:
            continue
        part = w * s / counts[name]
        total = part if total is None else total + part
    if total is None:  # no labelled term: a zero that still reaches every parameter's graph
        total = sum(s for s, _ in terms.values()) * 0.0
    return total


def stage_weights(config: LossConfig, progress: float) -> tuple[int, LossWeights]:
    """(stage, weights) at ``progress`` in [0, 1] of the run's budget (epochs or wall-clock)."""
    late = config.late_stage
    if late.enabled and progress >= late.start_fraction:
        return 2, late.weights
    return 1, config.weights
