"""Learned descriptors of a trained potential: its invariant (l=0) node features.

Read through forward hooks on ``model.blocks`` (the model itself is not changed): after each
interaction block the scalar channels of every atom are kept, and the blocks are concatenated,
giving ``[N, n_interactions * channels]`` per-atom descriptors. A frame's descriptor is the mean
of its atoms' descriptors per species, concatenated over the model's species (zeros for a
species the frame lacks), so frames of different composition are far apart.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from mlip.data.graph import atoms_to_graph, collate


def _batches(model, frames: Sequence[Atoms], batch_size: int):
    dtype = next(model.parameters()).dtype
    for start in range(0, len(frames), batch_size):
        chunk = frames[start:start + batch_size]
        yield collate([atoms_to_graph(a, model.species, model.cutoff) for a in chunk]).to(dtype=dtype)


@torch.no_grad()
def atom_descriptors(model, frames: Sequence[Atoms], batch_size: int = 16) -> list[np.ndarray]:
    """Per-atom learned descriptors ``[n_atoms, D]`` of each frame (``model``: a Potential)."""
    captured: list[torch.Tensor] = []

    def hook(module, inputs, output):
        h = output[0] if isinstance(output, (tuple, list)) else output
        captured.append(h[0].detach())  # [N, C]: the l=0 (invariant) channels

    handles = [block.register_forward_hook(hook) for block in model.blocks]
    out: list[np.ndarray] = []
    try:
        model.eval()
        for graph in _batches(model, list(frames), batch_size):
            captured.clear()
            model(graph.species, graph.edge_index, graph.edge_vectors())
            feats = torch.cat(captured, dim=1).double().cpu().numpy()
            offs = np.cumsum([0] + graph.n_atoms.tolist())
            out.extend(feats[offs[k]:offs[k + 1]] for k in range(len(offs) - 1))
    finally:
        for handle in handles:
            handle.remove()
    return out


def frame_descriptors(model, frames: Sequence[Atoms], batch_size: int = 16) -> np.ndarray:
    """``[n_frames, n_species * D]``: per-species mean of the atom descriptors of each frame."""
    species = list(model.species)
    rows = []
    for atoms, feats in zip(frames, atom_descriptors(model, frames, batch_size)):
        symbols = np.array(atoms.get_chemical_symbols())
        parts = [feats[symbols == s].mean(axis=0) if np.any(symbols == s) else np.zeros(feats.shape[1])
                 for s in species]
        rows.append(np.concatenate(parts))
    if not rows:
        return np.zeros((0, 0))
    return np.stack(rows)


__all__ = ["atom_descriptors", "frame_descriptors"]
