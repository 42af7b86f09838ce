"""Reproducible train/validation/test splits, stratified by config_type."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.config import dump_config
from mlip.data.keys import LabelKeys
from mlip.data.readers import write_frames
from mlip.data.species import DEFAULT_SPECIES
from mlip.errors import UserError


class SplitConfig(LabelKeys):
    """``seimlip data split --config``: the label keys, the elements, the fractions and the seed."""

    species: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIES))
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    compress: bool = True


def stratified_split(
    frames: Sequence[Atoms], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[Atoms]]:
    """Split each config_type by ``fractions`` (train, val, test) with a seeded shuffle.

    Every config_type with at least three frames puts one or more frames in each part, so all
    categories are evaluated. The same frames, fractions and seed always give the same split.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, atoms in enumerate(frames):
        groups[str(atoms.info.get("config_type", "default"))].append(i)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for k, name in enumerate(sorted(groups)):
        idx = np.array(groups[name])
        rng = np.random.default_rng([seed, k])
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_val = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:
            n_val = max(n_val, 1) if fractions[1] > 0 else 0
            n_test = max(n_test, 1) if fractions[2] > 0 else 0
        n_train = n - n_val - n_test
        parts["train"].extend(idx[:n_train].tolist())
        parts["val"].extend(idx[n_train : n_train + n_val].tolist())
        parts["test"].extend(idx[n_train + n_val :].tolist())
    return {name: [frames[i] for i in sorted(ids)] for name, ids in parts.items()}


def write_split(frames: Sequence[Atoms], out: str | Path, cfg: SplitConfig | None = None) -> dict[str, list[Atoms]]:
    """Split ``frames`` (:func:`stratified_split`) into ``out``/{train,val,test}.extxyz(.gz) and record
    the config beside them (``split_config.yaml``); returns the parts."""
    cfg, out = cfg or SplitConfig(), Path(out)
    parts = stratified_split(frames, cfg.fractions, cfg.seed)
    suffix = ".extxyz.gz" if cfg.compress else ".extxyz"
    for name, part in parts.items():
        write_frames(out / f"{name}{suffix}", part)
    dump_config(cfg, out / "split_config.yaml")
    return parts
