"""Training data: read, validate and split frames, fit the statistics, build graph loaders.

The data order of every epoch is a function of (seed, epoch) only (``GlobalBatchSampler``), so a resumed run sees exactly the batches an uninterrupted one would, and the
ranks of a DDP run together see exactly the global batches of a single process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from mlip.data.graph import atoms_to_graph, collate
from mlip.data.readers import read_frames
from mlip.data.split import stratified_split
from mlip.data.stats import fit_reference_energies
from mlip.data.validate import validate_frames
from mlip.errors import UserError
from mlip.train.config import DataConfig
from mlip.utils.console import console


@dataclass
class Splits:
    train: list
    val: list
    test: list


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    def read(key: str, path: str | None) -> list:
        if path is None:
            return []
        try:
            frames = read_frames(path, keys=cfg.label_keys())
        except UserError as exc:
            raise UserError(str(exc), f"data.{key}") from None
        if not frames:
            raise UserError("no frames in this file", f"data.{key}: {path}")
        try:
            validate_frames(frames, cfg.species)
        except UserError as exc:
            raise UserError(str(exc), f"data.{key}") from None
        return frames

    if cfg.path is not None:
        parts = stratified_split(read("path", cfg.path), cfg.split, seed if cfg.split_seed is None else cfg.split_seed)
        splits = Splits(parts["train"], parts["val"], parts["test"])
    else:
        splits = Splits(read("train", cfg.train), read("val", cfg.val), read("test", cfg.test))
    if not splits.train:
        raise UserError("the training set is empty", "data")
    if not splits.val:
        raise UserError("the validation set is empty (raise the split's validation fraction or give data.val)", "data")
    seen = {s for a in splits.train for s in a.get_chemical_symbols()}
    unseen = sorted({s for a in splits.val + splits.test for s in a.get_chemical_symbols()} - seen)
    if unseen:
        console.print(f"[yellow]warning:[/] element(s) {', '.join(unseen)} appear in validation/test frames "
                      "but not in the training set: their reference energies are 0")
    return splits


def fit_statistics(frames: list, cfg: DataConfig) -> dict:
    """Reference energies E0 per species, shift = mean residual energy per atom, and scale."""
    if isinstance(cfg.reference_energies, dict):
        missing = [s for s in cfg.species if s not in cfg.reference_energies]
        if missing:
            raise UserError(f"no reference energy for {', '.join(missing)}", "data.reference_energies")
        e0 = {s: float(cfg.reference_energies[s]) for s in cfg.species}
    else:
        e0 = fit_reference_energies(frames, cfg.species, cfg.reference_energies, cfg.isolated_energies)
    labelled = [a for a in frames if a.info.get("energy") is not None]
    residual = np.array([(a.info["energy"] - sum(e0[s] for s in a.get_chemical_symbols())) / len(a) for a in labelled])
    shift = float(residual.mean()) if residual.size else 0.0
    forces = [a.arrays["forces"].ravel() for a in frames if "forces" in a.arrays]
    force_rms = float(np.sqrt(np.mean(np.concatenate(forces) ** 2))) if forces else 0.0
    energy_std = float(residual.std()) if residual.size > 1 else 0.0
    if isinstance(cfg.scale, float):
        scale = cfg.scale
    else:
        scale = force_rms if cfg.scale == "force_rms" else energy_std
    if not np.isfinite(scale) or scale <= 1e-8:
        scale = 1.0
    return {"atomic_energies": e0, "shift": shift, "scale": float(scale), "force_rms": force_rms,
            "residual_energy_std": energy_std}


def make_graphs(frames: list, species: list[str], cutoff: float) -> list:
    return [atoms_to_graph(a, species, cutoff) for a in frames]


class GlobalBatchSampler(Sampler):
    """Global batches of ``batch_size`` from a permutation seeded by (seed, epoch); rank r takes
    items r, r+W, ... of each global batch. No padding: the union over ranks of step s is exactly
    the single-process batch s. A final global batch with fewer items than ranks is dropped."""

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> list[list[int]]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)).tolist()
        else:
            order = list(range(self.n))
        chunks = [order[k:k + self.batch_size] for k in range(0, self.n, self.batch_size)]
        return [c for c in chunks if len(c) >= self.world_size]

    def __iter__(self):
        for chunk in self._global_batches():
            yield chunk[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self._global_batches())


def make_loader(graphs: list, batch_size: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> DataLoader:
    sampler = GlobalBatchSampler(len(graphs), batch_size, seed, shuffle, rank, world_size)
    return DataLoader(graphs, batch_sampler=sampler, collate_fn=collate, num_workers=0)
